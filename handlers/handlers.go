// Package handlers turns what people do in Slack (slash commands, button clicks) into
// calls on medic's recovery core: it parses, checks where and by whom, hands over, and
// replies. It knows Slack's payloads but not how recovery works inside.
package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/medic-ops/medic/recovery"
)

// Poster is how handlers answer in Slack.
type Poster interface {
	// PostStatus posts report in channel for everyone, naming requestedBy.
	PostStatus(ctx context.Context, channel, requestedBy string, report recovery.StatusReport) error
	// Ephemeral shows text to user only, through responseURL when given.
	Ephemeral(ctx context.Context, channel, user, responseURL, text string) error
}

// StatusReader answers /status. Status returns *recovery.UnknownEnvironmentError for
// an environment the config does not have.
type StatusReader interface {
	Status(ctx context.Context, env string) (recovery.StatusReport, error)
}

// IncidentActions carries out the buttons of incident alerts. Act returns what to tell
// the user who clicked; a *recovery.UserError carries a message meant for them.
type IncidentActions interface {
	Act(ctx context.Context, incidentID string, action recovery.ActionID, user string) (string, error)
}

// Options configure a Router.
type Options struct {
	// CommandChannels limits slash commands to these channel IDs; empty allows all.
	CommandChannels []string
	// Environments lists valid environment names, for usage messages.
	Environments []string
	Logger       *zap.Logger
}

// Router routes slash commands and interactions to their handlers.
type Router struct {
	poster    Poster
	status    StatusReader
	incidents IncidentActions
	channels  map[string]bool
	envs      []string
	log       *zap.Logger
}

// NewRouter returns a Router.
func NewRouter(p Poster, s StatusReader, ia IncidentActions, o Options) *Router {
	r := &Router{poster: p, status: s, incidents: ia, envs: o.Environments, log: o.Logger}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	if len(o.CommandChannels) > 0 {
		r.channels = map[string]bool{}
		for _, c := range o.CommandChannels {
			r.channels[c] = true
		}
	}
	return r
}

// Commands lists the slash commands the Router answers, with their usage, for the
// Slack app manifest.
func Commands() []Command {
	return []Command{
		{Name: "/status", Usage: "<env>", Description: "Lambda, alarms, health and last good deploy of an environment"},
	}
}

// Command describes a slash command medic registers.
type Command struct {
	Name        string
	Usage       string
	Description string
}

// HandleSlashCommand answers one slash command.
func (r *Router) HandleSlashCommand(ctx context.Context, cmd slack.SlashCommand) {
	log := r.log.With(zap.String("command", cmd.Command), zap.String("user", cmd.UserID), zap.String("channel", cmd.ChannelID))
	reply := func(text string) {
		if err := r.poster.Ephemeral(ctx, cmd.ChannelID, cmd.UserID, cmd.ResponseURL, text); err != nil {
			log.Error("could not answer the user", zap.Error(err))
		}
	}
	if r.channels != nil && !r.channels[cmd.ChannelID] {
		log.Info("command refused: channel not allowed")
		reply(fmt.Sprintf("medic does not take commands in this channel. Use %s.", channelList(r.channels)))
		return
	}
	switch cmd.Command {
	case "/status":
		r.statusCommand(ctx, log, cmd, reply)
	default:
		log.Warn("unknown command")
		reply(fmt.Sprintf("medic does not know %s. It answers: %s.", cmd.Command, commandList()))
	}
}

// HandleInteraction answers a click or a submitted form.
func (r *Router) HandleInteraction(ctx context.Context, cb slack.InteractionCallback) {
	log := r.log.With(zap.String("user", cb.User.ID), zap.String("type", string(cb.Type)))
	reply := func(text string) {
		if err := r.poster.Ephemeral(ctx, cb.Channel.ID, cb.User.ID, cb.ResponseURL, text); err != nil {
			log.Error("could not answer the user", zap.Error(err))
		}
	}
	if cb.Type != slack.InteractionTypeBlockActions {
		log.Info("interaction without a handler")
		return
	}
	for _, a := range cb.ActionCallback.BlockActions {
		action, ok := recovery.ParseButtonID(a.ActionID)
		if !ok {
			log.Warn("unknown button", zap.String("action_id", a.ActionID))
			reply("medic does not know this button.")
			continue
		}
		log := log.With(zap.String("action", string(action)), zap.String("incident", a.Value))
		msg, err := r.incidents.Act(ctx, a.Value, action, cb.User.ID)
		var ue *recovery.UserError
		switch {
		case errors.As(err, &ue):
			reply(ue.Msg)
		case err != nil:
			r.internalError(log, err, reply)
		case msg != "":
			reply(msg)
		}
	}
}

func (r *Router) statusCommand(ctx context.Context, log *zap.Logger, cmd slack.SlashCommand, reply func(string)) {
	args := strings.Fields(cmd.Text)
	if len(args) != 1 {
		reply(fmt.Sprintf("Usage: `/status <env>` where env is one of: %s.", strings.Join(r.envs, ", ")))
		return
	}
	report, err := r.status.Status(ctx, args[0])
	var unknown *recovery.UnknownEnvironmentError
	switch {
	case errors.As(err, &unknown):
		reply(fmt.Sprintf("Unknown environment `%s`. Valid environments: %s.", sanitize(unknown.Name), strings.Join(unknown.Valid, ", ")))
		return
	case err != nil:
		r.internalError(log, err, reply)
		return
	}
	if err := r.poster.PostStatus(ctx, cmd.ChannelID, cmd.UserID, report); err != nil {
		r.internalError(log, err, reply)
	}
}

// internalError logs err in full and shows the user only a reference to find it.
func (r *Router) internalError(log *zap.Logger, err error, reply func(string)) {
	ref := newRef()
	log.Error("internal error", zap.String("ref", ref), zap.Error(err))
	reply(fmt.Sprintf("medic hit an internal error (ref %s). The operators can find it in medic's logs.", ref))
}

func newRef() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// sanitize makes user-typed text safe to echo: no mrkdwn controls, bounded length.
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		switch r {
		case '<', '>', '&', '`', '*', '_', '~', '\n', '\r':
			return -1
		}
		return r
	}, s)
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}

func channelList(ch map[string]bool) string {
	var out []string
	for c := range ch {
		out = append(out, "<#"+c+">")
	}
	slices.Sort(out)
	return strings.Join(out, " or ")
}

func commandList() string {
	var names []string
	for _, c := range Commands() {
		names = append(names, "`"+c.Name+" "+c.Usage+"`")
	}
	return strings.Join(names, ", ")
}
