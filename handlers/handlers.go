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
	"net/url"
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
	// OpenRequestModal opens the form asking what a restricted action needs; meta comes
	// back with the submission.
	OpenRequestModal(ctx context.Context, triggerID, meta string, action recovery.ActionID, env, sha string, asks recovery.Asks) error
}

// StatusReader answers /status.
type StatusReader interface {
	// Status reports on env: its functions, alarms, health, deploys, open incidents
	// and jobs. A section that could not be read is marked in the report, not returned
	// as an error. It returns *recovery.UnknownEnvironmentError for an environment the
	// config does not have.
	Status(ctx context.Context, env string) (recovery.StatusReport, error)
}

// The interfaces below are what the recovery core does for people in Slack, cut along
// its seams. Their methods that return a string return what to tell the person who
// clicked or typed (only they see it). An error that is a
// *recovery.UserError (errors.As) carries a message meant for that person: a refusal
// (no role, the wrong state, unknown IDs), after which nothing was done. Any other
// error is internal (the store, Slack, GitHub or AWS failing): the Router logs it and
// shows the person only a reference to the log line.

// ActionRequester carries out the buttons of incident alerts and the requests they
// make, whether clicked, submitted through a form or typed (/rollback).
type ActionRequester interface {
	// Act carries out the click of action on incidentID's alert by user: a read-only
	// action runs now, a mutating one becomes a request (as RequestAction), a paging
	// one pages (as PageIncident). An incident not on record, or an action medic does
	// not know, is a *recovery.UserError.
	Act(ctx context.Context, incidentID string, action recovery.ActionID, user string) (string, error)
	// AsksFor says what a form must ask user before action is requested on incidentID
	// (or, without one, on env): a reason for restricted actions, the environment's
	// name for the destructive ones, the SHA for an emergency rollback. ask is false when
	// no form is needed (then the click goes to Act or RequestAction). A user without
	// the responder role is refused with a *recovery.UserError before any form opens.
	// An incidentID not on record returns the store's error, which wraps
	// recovery.ErrNotFound (not a *recovery.UserError).
	AsksFor(ctx context.Context, incidentID, env string, action recovery.ActionID, user string) (asks recovery.Asks, ask bool, err error)
	// RequestAction requests a mutating action with its inputs, as ar.User (or pages,
	// for a paging action on an incident, as PageIncident). The request then waits for
	// approval in the incident's thread (or ar.Channel). Refusals are
	// *recovery.UserError: recovery actions not configured, an unknown action or
	// environment, an incident not on record or about an untrusted run, a user without
	// the responder role, inputs medic cannot use (a missing reason, a SHA it may not
	// deploy, a destructive action where the environment does not allow it), the
	// environment busy with another job.
	RequestAction(ctx context.Context, ar recovery.ActionRequest) (string, error)
}

// JobController decides requests and acts on the jobs approved requests run.
type JobController interface {
	// Decide approves (approve true) or rejects requestID as user; an approval starts
	// the request's job. A request already decided, even concurrently, is answered with
	// who decided it, not an error. Refusals are *recovery.UserError: recovery actions
	// not configured; a request not on record, expired, whose preview failed or is not
	// ready yet; a user without the approver role; the requester approving their own
	// request when it needs a second person.
	Decide(ctx context.Context, requestID, user string, approve bool) (string, error)
	// CancelJob asks jobID to stop: its current step's context is cancelled (Terraform
	// gets an interrupt). A job that ended already is answered, not an error.
	// Refusals are *recovery.UserError: recovery actions not configured, a job not on
	// record, a user without the responder role.
	CancelJob(ctx context.Context, jobID, user string) (string, error)
	// RetryJob requests a failed or interrupted job's action again with the same
	// inputs, through approval like any request (so it refuses as RequestAction does).
	// Recovery actions not configured, a job not on record or still running are
	// *recovery.UserError.
	RetryJob(ctx context.Context, jobID, user string) (string, error)
}

// IncidentPager pages people about incidents (/page, the alerts' paging buttons).
type IncidentPager interface {
	// PageIncident pages about incidentID at once, as action says (page on-call, page
	// senior engineer, or declare a data corruption risk, which needs reason). A page
	// sent moments ago is not repeated, and says so. Refusals are *recovery.UserError:
	// paging not configured, an incident not on record, resolved or about an untrusted
	// run, a user without the responder role, a data corruption risk without a reason.
	PageIncident(ctx context.Context, incidentID string, action recovery.ActionID, user, reason string) (string, error)
	// PageEnv pages the on-call engineer about env's most severe open incident, as
	// PageIncident. An environment without an open incident is a *recovery.UserError.
	PageEnv(ctx context.Context, env, user string) (string, error)
}

// IncidentResolver closes incidents.
type IncidentResolver interface {
	// Resolve closes incidentID as user, with an optional note for the audit log and
	// the report: the escalation stops, and the thread gets the post-incident checklist
	// and the report. An incident resolved already is answered, not an error. An
	// incident not on record, or a user without the responder role, is a
	// *recovery.UserError.
	Resolve(ctx context.Context, incidentID, user, note string) (string, error)
	// SetChecklist records which items of incidentID's checklist are ticked (selected
	// holds their indexes, as Slack's checkboxes send them). A user without the
	// responder role is a *recovery.UserError. An incidentID not on record returns the
	// store's error, which wraps recovery.ErrNotFound (not a *recovery.UserError).
	SetChecklist(ctx context.Context, incidentID, user string, selected []string) (string, error)
}

// IncidentReader answers /incident list and /incident show.
type IncidentReader interface {
	// IncidentList returns the open incidents and those resolved in the last 7 days.
	// Its errors are all internal (a store that cannot list incidents).
	IncidentList(ctx context.Context) (open, recent []recovery.Incident, err error)
	// Incident returns incident id with its escalation line. An incident not on record
	// is a *recovery.UserError.
	Incident(ctx context.Context, id string) (recovery.Incident, error)
}

// Services are what the Router hands people's commands and clicks to. Every field is
// required (NewRouter says which one is missing); medic gives its *recovery.Engine for
// each.
type Services struct {
	// Status answers /status.
	Status StatusReader
	// Requests carries out the alerts' buttons, the request form and /rollback.
	Requests ActionRequester
	// Jobs takes Approve, Reject, Cancel job and Retry.
	Jobs JobController
	// Paging takes /page.
	Paging IncidentPager
	// Resolution takes /incident resolve and the checklist's checkboxes.
	Resolution IncidentResolver
	// Incidents answers /incident list and /incident show.
	Incidents IncidentReader
	// Home keeps the Home tab and takes its clicks; optional (nil: no Home tab).
	Home HomeService
}

// missing names the first field of s that is nil.
func (s Services) missing() string {
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"Status", s.Status != nil}, {"Requests", s.Requests != nil}, {"Jobs", s.Jobs != nil},
		{"Paging", s.Paging != nil}, {"Resolution", s.Resolution != nil}, {"Incidents", s.Incidents != nil},
	} {
		if !f.set {
			return f.name
		}
	}
	return ""
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
	poster   Poster
	svc      Services
	channels map[string]bool
	envs     []string
	log      *zap.Logger
}

// NewRouter returns a Router that answers through p and hands work to svc. It returns
// an error naming what is missing when p or a field of svc is nil.
func NewRouter(p Poster, svc Services, o Options) (*Router, error) {
	if p == nil {
		return nil, errors.New("handlers: NewRouter needs a Poster")
	}
	if name := svc.missing(); name != "" {
		return nil, fmt.Errorf("handlers: NewRouter needs Services.%s", name)
	}
	r := &Router{poster: p, svc: svc, envs: o.Environments, log: o.Logger}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	if len(o.CommandChannels) > 0 {
		r.channels = map[string]bool{}
		for _, c := range o.CommandChannels {
			r.channels[c] = true
		}
	}
	return r, nil
}

// Commands lists the slash commands the Router answers, with their usage, for the
// Slack app manifest.
func Commands() []Command {
	return []Command{
		{Name: "/status", Usage: "<env>", Description: "Lambda, alarms, health and last good deploy of an environment"},
		{Name: "/rollback", Usage: "<env> [sha]", Description: "Roll an environment back to the last known good SHA (or the one given), with approval"},
		{Name: "/page", Usage: "<env|incident>", Description: "Page the on-call engineer for an incident (an environment's most severe open one)"},
		{Name: "/incident", Usage: "list | show <id> | resolve <id> [note]", Description: "List, show or resolve incidents"},
		{Name: "/drill", Usage: "list | <scenario> [@people] [fast] | stop <id>", Description: "Practise a runbook scenario against medic's private sandbox, in the drill channel",
			Escape: true},
	}
}

// Command describes a slash command medic registers.
type Command struct {
	Name        string
	Usage       string
	Description string
	// Escape asks Slack to send mentioned people and channels as IDs (<@U…|name>).
	Escape bool
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
	case "/rollback":
		r.rollbackCommand(ctx, log, cmd, reply)
	case "/page":
		r.pageCommand(ctx, log, cmd, reply)
	case "/incident":
		r.incidentCommand(ctx, log, cmd, reply)
	case "/drill":
		// With slack.drill_channel set, /drill never reaches this router.
		reply("Drills are off on this medic: its config has no slack.drill_channel.")
	default:
		log.Warn("unknown command")
		reply(fmt.Sprintf("medic does not know %s. It answers: %s.", cmd.Command, commandList()))
	}
}

// HandleInteraction answers a click or a submitted form.
func (r *Router) HandleInteraction(ctx context.Context, cb slack.InteractionCallback) {
	log := r.log.With(zap.String("user", cb.User.ID), zap.String("type", string(cb.Type)))
	switch cb.Type {
	case slack.InteractionTypeBlockActions:
		if cb.View.Type == slack.VTHomeTab {
			r.homeClicks(ctx, log, cb)
			return
		}
		for _, a := range cb.ActionCallback.BlockActions {
			r.click(ctx, log, cb, a)
		}
	case slack.InteractionTypeViewSubmission:
		if cb.View.CallbackID == recovery.FormCallback {
			r.submitRequest(ctx, log, cb)
		}
	default:
		log.Info("interaction without a handler")
	}
}

// answer shows the outcome of a call to the user: its message, the message of a user
// error, or a reference to an internal error.
func (r *Router) answer(log *zap.Logger, reply func(string), msg string, err error) {
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

func (r *Router) click(ctx context.Context, log *zap.Logger, cb slack.InteractionCallback, a *slack.BlockAction) {
	user := cb.User.ID
	reply := func(text string) {
		if err := r.poster.Ephemeral(ctx, cb.Channel.ID, user, cb.ResponseURL, text); err != nil {
			log.Error("could not answer the user", zap.Error(err))
		}
	}
	if incidentID, ok := recovery.ParseChecklistID(a.ActionID); ok {
		var selected []string
		for _, o := range a.SelectedOptions {
			selected = append(selected, o.Value)
		}
		msg, err := r.svc.Resolution.SetChecklist(ctx, incidentID, user, selected)
		r.answer(log.With(zap.String("incident", incidentID)), reply, msg, err)
		return
	}
	if control, ok := recovery.ParseControlID(a.ActionID); ok {
		log := log.With(zap.String("control", string(control)), zap.String("id", a.Value))
		var msg string
		var err error
		switch control {
		case recovery.ControlApprove:
			msg, err = r.svc.Jobs.Decide(ctx, a.Value, user, true)
		case recovery.ControlReject:
			msg, err = r.svc.Jobs.Decide(ctx, a.Value, user, false)
		case recovery.ControlJobCancel:
			msg, err = r.svc.Jobs.CancelJob(ctx, a.Value, user)
		case recovery.ControlJobRetry:
			msg, err = r.svc.Jobs.RetryJob(ctx, a.Value, user)
		}
		r.answer(log, reply, msg, err)
		return
	}
	action, ok := recovery.ParseButtonID(a.ActionID)
	if !ok {
		log.Warn("unknown button", zap.String("action_id", a.ActionID))
		reply("medic does not know this button.")
		return
	}
	incidentID, env, params := recovery.ParseButtonValue(a.Value)
	log = log.With(zap.String("action", string(action)), zap.String("incident", incidentID))
	asks, ask, err := r.svc.Requests.AsksFor(ctx, incidentID, env, action, user)
	if err != nil {
		r.answer(log, reply, "", err)
		return
	}
	if ask {
		meta := formMeta(incidentID, orEnv(env, asks), action, params.SHA, cb.Channel.ID)
		if err := r.poster.OpenRequestModal(ctx, cb.TriggerID, meta, action, orEnv(env, asks), params.SHA, asks); err != nil {
			r.internalError(log, err, reply)
		}
		return
	}
	var msg string
	if incidentID != "" && params == (recovery.RequestParams{}) {
		msg, err = r.svc.Requests.Act(ctx, incidentID, action, user)
	} else {
		msg, err = r.svc.Requests.RequestAction(ctx, recovery.ActionRequest{IncidentID: incidentID, Env: env, Action: action, Params: params, User: user, Channel: cb.Channel.ID})
	}
	r.answer(log, reply, msg, err)
}

func orEnv(env string, asks recovery.Asks) string {
	if asks.Env != "" {
		return asks.Env // the incident's
	}
	return env
}

// formMeta is what the request form carries through Slack and back.
func formMeta(incidentID, env string, action recovery.ActionID, sha, channel string) string {
	v := url.Values{}
	v.Set("action", string(action))
	for k, val := range map[string]string{"incident": incidentID, "env": env, "sha": sha, "channel": channel} {
		if val != "" {
			v.Set(k, val)
		}
	}
	return v.Encode()
}

func formValue(cb slack.InteractionCallback, block string) string {
	if b, ok := cb.View.State.Values[block]; ok {
		return strings.TrimSpace(b[recovery.FormInput].Value)
	}
	return ""
}

// ValidateSubmission checks a submitted request form before it is acknowledged, so a
// mistyped confirmation or SHA keeps the form open with the error next to the field
// (Slack's response_action "errors"). It does no I/O.
func (r *Router) ValidateSubmission(cb slack.InteractionCallback) map[string]string {
	if cb.Type != slack.InteractionTypeViewSubmission || cb.View.CallbackID != recovery.FormCallback {
		return nil
	}
	errs := map[string]string{}
	meta, _ := url.ParseQuery(cb.View.PrivateMetadata)
	if _, ok := cb.View.State.Values[recovery.FormConfirmEnv]; ok {
		want := meta.Get("env")
		if got := formValue(cb, recovery.FormConfirmEnv); want == "" || got != want {
			errs[recovery.FormConfirmEnv] = fmt.Sprintf("Type %s exactly to confirm.", want)
		}
	}
	if _, ok := cb.View.State.Values[recovery.FormOverride]; ok {
		want := meta.Get("confirm")
		if got := formValue(cb, recovery.FormOverride); want == "" || got != want {
			errs[recovery.FormOverride] = fmt.Sprintf("Type %s exactly to override.", want)
		}
	}
	if _, ok := cb.View.State.Values[recovery.FormSHA]; ok {
		if sha := formValue(cb, recovery.FormSHA); !recovery.ValidSHA(sha) {
			errs[recovery.FormSHA] = "A commit SHA: 7 to 40 hex digits."
		}
	}
	if _, ok := cb.View.State.Values[recovery.FormReason]; ok && formValue(cb, recovery.FormReason) == "" {
		errs[recovery.FormReason] = "Say why: it goes to the audit log."
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func (r *Router) submitRequest(ctx context.Context, log *zap.Logger, cb slack.InteractionCallback) {
	meta, err := url.ParseQuery(cb.View.PrivateMetadata)
	if err != nil {
		log.Warn("request form with unreadable metadata", zap.Error(err))
		return
	}
	channel := meta.Get("channel")
	reply := func(text string) {
		if channel == "" {
			return
		}
		if err := r.poster.Ephemeral(ctx, channel, cb.User.ID, "", text); err != nil {
			log.Error("could not answer the user", zap.Error(err))
		}
	}
	p := recovery.RequestParams{SHA: meta.Get("sha"), Reason: formValue(cb, recovery.FormReason)}
	if _, ok := cb.View.State.Values[recovery.FormOverride]; ok && meta.Get("confirm") != "" && formValue(cb, recovery.FormOverride) == meta.Get("confirm") {
		p.Override = true
	}
	if sha := formValue(cb, recovery.FormSHA); sha != "" {
		p.SHA = sha
	}
	msg, err := r.svc.Requests.RequestAction(ctx, recovery.ActionRequest{IncidentID: meta.Get("incident"), Env: meta.Get("env"),
		Action: recovery.ActionID(meta.Get("action")), Params: p, User: cb.User.ID, Channel: channel})
	r.answer(log.With(zap.String("action", meta.Get("action"))), reply, msg, err)
}

func (r *Router) statusCommand(ctx context.Context, log *zap.Logger, cmd slack.SlashCommand, reply func(string)) {
	args := strings.Fields(cmd.Text)
	if len(args) != 1 {
		reply(fmt.Sprintf("Usage: `/status <env>` where env is one of: %s.", strings.Join(r.envs, ", ")))
		return
	}
	report, err := r.svc.Status.Status(ctx, args[0])
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

func (r *Router) rollbackCommand(ctx context.Context, log *zap.Logger, cmd slack.SlashCommand, reply func(string)) {
	args := strings.Fields(cmd.Text)
	override := len(args) == 3 && strings.EqualFold(args[2], "override")
	if len(args) < 1 || len(args) > 2 && !override {
		reply(fmt.Sprintf("Usage: `/rollback <env> [sha]` where env is one of: %s. Without a SHA, medic picks the last known good deploy. An admin rolling back to a version never deployed there adds `override`.", strings.Join(r.envs, ", ")))
		return
	}
	env := strings.ToLower(args[0])
	if !slices.Contains(r.envs, env) {
		reply(fmt.Sprintf("Unknown environment `%s`. Valid environments: %s.", sanitize(args[0]), strings.Join(r.envs, ", ")))
		return
	}
	p := recovery.RequestParams{}
	if len(args) >= 2 {
		sha := strings.ToLower(args[1])
		if !recovery.ValidSHA(sha) {
			reply(fmt.Sprintf("`%s` is not a commit SHA: give 7 to 40 hex digits, or leave it out for the last known good.", sanitize(args[1])))
			return
		}
		p.SHA = sha
	}
	if override {
		// The override is typed again in a form, with a reason: it is a decision, not
		// a flag.
		confirm := p.SHA[:7]
		meta := formMeta("", env, recovery.ActRollback, p.SHA, cmd.ChannelID) + "&confirm=" + url.QueryEscape(confirm)
		if err := r.poster.OpenRequestModal(ctx, cmd.TriggerID, meta, recovery.ActRollback, env, p.SHA, recovery.Asks{Reason: true, Override: confirm}); err != nil {
			r.internalError(log, err, reply)
		}
		return
	}
	msg, err := r.svc.Requests.RequestAction(ctx, recovery.ActionRequest{Env: env, Action: recovery.ActRollback, Params: p, User: cmd.UserID, Channel: cmd.ChannelID})
	r.answer(log, reply, msg, err)
}

// internalError logs err in full and shows the user only a reference to find it.
func (r *Router) internalError(log *zap.Logger, err error, reply func(string)) {
	ref := newRef()
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		// Slack refused medic's message even after waiting as asked: not medic's
		// fault, and the person can do something about it (wait). The answer goes
		// through response_url, which the Web API's rate limit does not cover.
		log.Warn("slack rate-limited medic's message", zap.String("ref", ref), zap.Duration("retry_after", rl.RetryAfter), zap.Error(err))
		reply(fmt.Sprintf("Slack is rate-limiting medic's messages right now (it asked medic to wait %s), so medic could not finish this. Try again in a minute (ref %s).", rl.RetryAfter, ref))
		return
	}
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
