package bot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/medic-ops/medic/recovery"
)

// ChecklistMessage renders a resolved incident's post-incident checklist: one checkbox
// per item, ticked as stored, with who ticked each.
func ChecklistMessage(in recovery.Incident) (blocks []slack.Block, fallback string) {
	items := in.Resolution.Checklist
	done := 0
	var opts, initial []*slack.OptionBlockObject
	for i, it := range items {
		var desc *slack.TextBlockObject
		if it.Done {
			done++
			desc = plain(fmt.Sprintf("done by %s at %s", userName(it.By), it.At.UTC().Format("15:04 UTC")))
		}
		o := slack.NewOptionBlockObject(strconv.Itoa(i), plain(cut(it.Text, 150)), desc)
		opts = append(opts, o)
		if it.Done {
			initial = append(initial, o)
		}
	}
	head := fmt.Sprintf(":clipboard: *Post-incident checklist* of `%s` (%d/%d done)", in.ID, done, len(items))
	blocks = append(blocks, section(head))
	if len(opts) > 0 {
		cb := slack.NewCheckboxGroupsBlockElement(recovery.ChecklistID(in.ID), opts...)
		cb.InitialOptions = initial
		blocks = append(blocks, slack.NewActionBlock("checklist", cb))
	}
	return blocks, fmt.Sprintf("Post-incident checklist of %s: %d/%d done", in.ID, done, len(items))
}

// userName shows a stored user ID in plain text (mentions do not render there).
func userName(id string) string {
	if id == "" {
		return "someone"
	}
	return id
}

// PostChecklist posts a resolved incident's checklist in its alert's thread.
func (p *Poster) PostChecklist(ctx context.Context, in recovery.Incident) (string, error) {
	if in.MessageTS == "" {
		return "", fmt.Errorf("checklist of %s: the alert has not been posted", in.ID)
	}
	blocks, fallback := ChecklistMessage(in)
	ts, err := p.postMessage(ctx, in.Channel, slack.MsgOptionTS(in.MessageTS), slack.MsgOptionBlocks(blocks...), slack.MsgOptionText(fallback, false))
	if err != nil {
		return "", fmt.Errorf("posting the checklist of %s: %w", in.ID, err)
	}
	return ts, nil
}

// UpdateChecklist shows the checklist's stored state.
func (p *Poster) UpdateChecklist(ctx context.Context, in recovery.Incident) error {
	if in.Resolution.ChecklistTS == "" {
		return fmt.Errorf("checklist of %s: not posted", in.ID)
	}
	blocks, fallback := ChecklistMessage(in)
	if err := p.updateMessage(ctx, in.Channel, in.Resolution.ChecklistTS, slack.MsgOptionBlocks(blocks...), slack.MsgOptionText(fallback, false)); err != nil {
		return fmt.Errorf("updating the checklist of %s: %w", in.ID, err)
	}
	return nil
}

// UserName is a Slack user's display name (users.info), for reports read outside Slack.
func (p *Poster) UserName(ctx context.Context, id string) (string, error) {
	u, err := p.api.GetUserInfoContext(ctx, id)
	if err != nil {
		return "", fmt.Errorf("reading user %s: %w", id, err)
	}
	for _, n := range []string{u.Profile.DisplayName, u.RealName, u.Name} {
		if n != "" {
			return n, nil
		}
	}
	return id, nil
}

// SlackPager pages levels in Slack: it mentions their users and user groups in the
// incident's thread and sends each user (a group's members included) a direct
// message.
type SlackPager struct {
	api *slack.Client
}

// NewSlackPager returns a pager posting through api.
func NewSlackPager(api *slack.Client) *SlackPager { return &SlackPager{api: api} }

// Name is the pager's key.
func (s *SlackPager) Name() string { return "slack" }

// Wants reports whether a page has someone to reach in Slack: triggers only (Slack
// has nothing to acknowledge or resolve), to levels with Slack members.
func (s *SlackPager) Wants(kind recovery.PageKind, levels []recovery.Level) bool {
	if kind != recovery.PageTrigger {
		return false
	}
	return slices.ContainsFunc(levels, func(l recovery.Level) bool { return len(l.Slack) > 0 })
}

// Send mentions the levels in the thread, then DMs each user. A failure to reach one
// user does not stop the others; the error names who was not reached.
func (s *SlackPager) Send(ctx context.Context, pg recovery.Page, in recovery.Incident, levels []recovery.Level) error {
	var mentions, users []string
	for _, l := range levels {
		for _, id := range l.Slack {
			if strings.HasPrefix(id, "S") {
				mentions = append(mentions, fmt.Sprintf("<!subteam^%s>", id))
				members, err := s.api.GetUserGroupMembersContext(ctx, id)
				if err != nil {
					return slackError(fmt.Errorf("listing user group %s: %w", id, err))
				}
				users = append(users, members...)
				continue
			}
			mentions = append(mentions, fmt.Sprintf("<@%s>", id))
			users = append(users, id)
		}
	}
	slices.Sort(users)
	users = slices.Compact(users)
	var titles []string
	for _, l := range levels {
		titles = append(titles, l.Title)
	}
	who := strings.Join(titles, " + ")
	// A retry reaches only whom the earlier attempts missed.
	reached := slices.Clone(pg.Reached)
	fail := func(err error) error {
		pe := slackError(err).(*pageError)
		pe.reached = reached
		return pe
	}
	if in.MessageTS != "" && !slices.Contains(reached, reachedThread) {
		text := fmt.Sprintf(":rotating_light: *Paging %s* (page %d): %s\n%s", esc(who), pg.Seq, pageWhy(pg), strings.Join(mentions, " "))
		if _, _, err := s.api.PostMessageContext(ctx, in.Channel, slack.MsgOptionTS(in.MessageTS), slack.MsgOptionText(text, false)); err != nil {
			return fail(fmt.Errorf("mentioning %s in the thread: %w", who, err))
		}
		reached = append(reached, reachedThread)
	}
	sc, _ := recovery.ScenarioByID(in.Scenario)
	dm := fmt.Sprintf(":rotating_light: medic pages you (%s) for *%s %s · %s* `%s` in <#%s>: %s. Acknowledge on the alert to stop the escalation.",
		esc(who), in.Severity, esc(in.Env), esc(sc.Title), in.ID, in.Channel, pageWhy(pg))
	var missed []string
	var last error
	for _, u := range users {
		if slices.Contains(reached, u) {
			continue
		}
		ch, _, _, err := s.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{u}})
		if err == nil {
			_, _, err = s.api.PostMessageContext(ctx, ch.ID, slack.MsgOptionText(dm, false))
		}
		if err != nil {
			missed = append(missed, u+" ("+err.Error()+")")
			last = err
			continue
		}
		reached = append(reached, u)
	}
	if len(missed) > 0 {
		return fail(fmt.Errorf("direct messages did not reach %s: %w", strings.Join(missed, ", "), last))
	}
	return nil
}

// pageWhy says why a page was sent: "paged by @someone: what they typed" with a
// real mention when a person asked, the escalation's reason when medic did.
func pageWhy(pg recovery.Page) string {
	if pg.By == "" || pg.By == "medic" {
		return esc(recovery.Redact(pg.Reason))
	}
	t := recovery.Say("paged by %s", recovery.Mention(pg.By))
	if pg.Reason != "" {
		t = append(t, recovery.Say(": %s", pg.Reason)...)
	}
	return textMrkdwn(t)
}

// reachedThread is the key of a page's thread mention among the targets it reached.
const reachedThread = "thread"

// pageError is a failed Slack page: temporary unless Slack refused for good.
type pageError struct {
	err        error
	temporary  bool
	retryAfter time.Duration
	// reached lists what the attempt reached before failing (recovery.PartialSend).
	reached []string
}

func (e *pageError) Error() string             { return e.err.Error() }
func (e *pageError) Unwrap() error             { return e.err }
func (e *pageError) Temporary() bool           { return e.temporary }
func (e *pageError) RetryAfter() time.Duration { return e.retryAfter }
func (e *pageError) Reached() []string         { return e.reached }

// slackError classifies a Slack failure for the page's retry.
func slackError(err error) error {
	pe := &pageError{err: err, temporary: true}
	var rl *slack.RateLimitedError
	var se slack.StatusCodeError
	var ne net.Error
	switch {
	case errors.As(err, &rl):
		pe.retryAfter = rl.RetryAfter
	case errors.As(err, &se):
		pe.temporary = se.Code >= 500 || se.Code == 429
	case errors.As(err, &ne):
	default:
		// Slack's {"ok":false,"error":"…"} answers (channel_not_found, user_not_found …)
		// will not change by retrying.
		var sr slack.SlackErrorResponse
		if errors.As(err, &sr) {
			pe.temporary = false
		}
	}
	return pe
}
