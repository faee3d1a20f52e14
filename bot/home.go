package bot

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/medic-ops/medic/recovery"
)

// HomeOpener is implemented by a Handler that keeps medic's Home tab: the bot tells
// it, on its worker pool, when someone opens the tab (the app_home_opened event).
type HomeOpener interface {
	HomeOpened(ctx context.Context, user string)
}

// homeOpened queues the Home of the person who opened medic's Home tab, when evt is
// such an event and the handler keeps a Home. The envelope is acked already. A full
// queue drops it: the person sees their Home as last published, refreshed when what
// it shows changes or they open it again.
func (b *Bot) homeOpened(evt socketmode.Event, queue chan<- work) {
	h, ok := b.handler.(HomeOpener)
	if !ok || evt.Request == nil {
		return
	}
	ev, ok := evt.Data.(slackevents.EventsAPIEvent)
	if !ok || ev.Type != slackevents.CallbackEvent {
		return
	}
	var user string
	switch e := ev.InnerEvent.Data.(type) {
	case *slackevents.AppHomeOpenedEvent: // slack-go decodes inner events into pointers
		if e.Tab == "home" {
			user = e.User
		}
	}
	if !slackUserID.MatchString(user) {
		return
	}
	// A full queue is counted by tryEnqueue's metric; nobody waits for an answer.
	b.tryEnqueue(queue, work{kind: "app_home_opened", envelopeID: evt.Request.EnvelopeID,
		run: func(ctx context.Context) { h.HomeOpened(ctx, user) }})
}

// ChangeNotifier is told when medic posted or updated a message about an incident,
// a request or a job: what the Home tab shows may have changed.
type ChangeNotifier interface {
	// Changed must not block.
	Changed()
}

// NotifyingPoster is a Poster that tells a ChangeNotifier after each alert, note,
// reply and request it posts or updates (the engine's Publisher and
// RequestPublisher), whether or not Slack took it: the store changed before.
type NotifyingPoster struct {
	*Poster
	n ChangeNotifier
}

// Notifying returns p telling n of its changes; with a nil n, it is p unchanged.
func Notifying(p *Poster, n ChangeNotifier) NotifyingPoster {
	return NotifyingPoster{Poster: p, n: n}
}

func (p NotifyingPoster) changed() {
	if p.n != nil {
		p.n.Changed()
	}
}

// PostAlert posts an incident's alert (Poster.PostAlert), then notifies.
func (p NotifyingPoster) PostAlert(ctx context.Context, in recovery.Incident) (string, error) {
	defer p.changed()
	return p.Poster.PostAlert(ctx, in)
}

// UpdateAlert rewrites an alert (Poster.UpdateAlert), then notifies.
func (p NotifyingPoster) UpdateAlert(ctx context.Context, in recovery.Incident) error {
	defer p.changed()
	return p.Poster.UpdateAlert(ctx, in)
}

// PostNote replies in an alert's thread (Poster.PostNote), then notifies.
func (p NotifyingPoster) PostNote(ctx context.Context, in recovery.Incident, n recovery.Note) error {
	defer p.changed()
	return p.Poster.PostNote(ctx, in, n)
}

// Reply posts a note in a thread, a job's step among them (Poster.Reply), then
// notifies.
func (p NotifyingPoster) Reply(ctx context.Context, channel, threadTS string, n recovery.Note) error {
	defer p.changed()
	return p.Poster.Reply(ctx, channel, threadTS, n)
}

// PostRequest posts a request (Poster.PostRequest), then notifies.
func (p NotifyingPoster) PostRequest(ctx context.Context, r recovery.Request) (string, error) {
	defer p.changed()
	return p.Poster.PostRequest(ctx, r)
}

// UpdateRequest rewrites a request's message (Poster.UpdateRequest), then notifies.
func (p NotifyingPoster) UpdateRequest(ctx context.Context, r recovery.Request) error {
	defer p.changed()
	return p.Poster.UpdateRequest(ctx, r)
}

// PublishHome replaces the Home tab of r.User with r (views.publish).
func (p *Poster) PublishHome(ctx context.Context, r recovery.HomeReport) error {
	view := HomeView(r)
	if err := p.send(ctx, func() error {
		_, err := p.api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: r.User, View: view})
		return err
	}); err != nil {
		return fmt.Errorf("publishing the home tab of %s: %w", r.User, err)
	}
	return nil
}

// TellUser sends text to user in medic's direct messages (chat.postMessage to the
// user's ID posts in the app's Messages tab).
func (p *Poster) TellUser(ctx context.Context, user, text string) error {
	if !slackUserID.MatchString(user) {
		return fmt.Errorf("telling %q: not a user ID", user)
	}
	if _, err := p.postMessage(ctx, user, slack.MsgOptionText(text, false)); err != nil {
		return fmt.Errorf("telling %s: %w", user, err)
	}
	return nil
}

// maxHomeBlocks is the most blocks a Home tab view carries (docs.slack.dev/surfaces/app-home:
// up to 100 blocks); maxHomeApprovals bounds the requests shown with buttons, each
// as its message (up to 5 blocks).
const (
	maxHomeBlocks    = 100
	maxHomeApprovals = 10
)

// HomeView renders a person's Home tab. It is pure: the same report always gives
// the same view. Outside text (titles, names, reasons) is escaped; people are
// mentioned only by what has the shape of a Slack ID.
func HomeView(r recovery.HomeReport) slack.HomeTabViewRequest {
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain("medic")),
		slack.NewContextBlock("", mrkdwn(fmt.Sprintf("Where things stand for %s · updated %s",
			userMention(r.User), r.At.UTC().Format("2006-01-02 15:04:05 UTC")))),
	}
	if r.NoRole {
		blocks = append(blocks, section(":lock: You hold no role in medic, so it shows you nothing here. Roles are given in medic's config (access.roles); ask the people who run medic."))
		return homeTab(blocks)
	}
	if len(r.Problems) > 0 {
		blocks = append(blocks, section(":warning: *Not everything could be read*\n"+list(len(r.Problems), func(i int) string { return esc(r.Problems[i]) })))
	}
	blocks = append(blocks, slack.NewDividerBlock(), section(fmt.Sprintf("*Waiting for your approval* (%d)", len(r.Approvals))))
	if len(r.Approvals) == 0 {
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn("Nothing waits for you.")))
	}
	for i, q := range r.Approvals {
		if i == maxHomeApprovals {
			blocks = append(blocks, slack.NewContextBlock("", mrkdwn(fmt.Sprintf("…and %d more: see their messages in the channel", len(r.Approvals)-i))))
			break
		}
		// The request message itself: whoever approves here reads the same preview
		// (plan, its SHA-256, an override's warning) as in the channel, and clicks
		// the same Approve and Reject.
		msg, _ := RequestMessage(q)
		blocks = append(blocks, msg...)
	}
	if len(r.Waiting) > 0 {
		blocks = append(blocks, section("*Other pending requests*\n"+list(len(r.Waiting), func(i int) string {
			return homeRequestLine(r.Waiting[i]) + "\n      " + waitingWhy(r.Waiting[i], r.User)
		})))
	}
	for _, e := range r.Envs {
		blocks = append(blocks, slack.NewDividerBlock(), section("*"+esc(e.Name)+"*"),
			section("*Open incidents*\n"+homeIncidents(e, r)),
			section("*Running jobs*\n"+homeJobs(e.Jobs)),
			section("*Last known good deploy*\n"+deployText(e.LastGood, r.At)))
	}
	if len(r.Levels) > 0 {
		blocks = append(blocks, slack.NewDividerBlock(), section("*Escalation levels*\n"+list(len(r.Levels), func(i int) string {
			return levelLine(r.Levels[i])
		})))
	}
	return homeTab(blocks)
}

func homeTab(blocks []slack.Block) slack.HomeTabViewRequest {
	if len(blocks) > maxHomeBlocks {
		blocks = append(blocks[:maxHomeBlocks-1:maxHomeBlocks-1], slack.NewContextBlock("", mrkdwn(
			fmt.Sprintf("…%d more blocks left out (Slack allows %d in a Home tab)", len(blocks)-maxHomeBlocks+1, maxHomeBlocks))))
	}
	return slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: blocks}}
}

// homeRequestLine sums a request up in one line.
func homeRequestLine(q recovery.Request) string {
	a, _ := recovery.ActionByID(q.Action)
	line := fmt.Sprintf(":raised_hand: %s requests *%s* on *%s*", userMention(q.RequestedBy), esc(orText(a.Label, string(q.Action))), esc(q.Env))
	if q.IncidentID != "" {
		line += fmt.Sprintf(" for `%s`", esc(q.IncidentID))
	}
	line += fmt.Sprintf(" · `%s` · expires %s", esc(q.ID), q.ExpiresAt.UTC().Format("15:04 UTC"))
	if q.Params.SHA != "" {
		line += " · SHA `" + esc(shortSHA(q.Params.SHA)) + "`"
	}
	if q.Params.Override {
		line += " · :warning: admin override"
	}
	if t := q.Preview.Title; t != "" && q.PreviewReady {
		line += "\n      Preview: " + esc(cut(t, 200))
	}
	if q.Params.Reason != "" {
		line += "\n      Reason: " + esc(cut(q.Params.Reason, 200))
	}
	return line
}

// waitingWhy says why a pending request on the Home has no buttons.
func waitingWhy(q recovery.Request, user string) string {
	switch {
	case !q.NeedsApproval:
		return "_self-service: runs without approval_"
	case !q.PreviewReady:
		return "_its preview is being made_"
	case q.RequestedBy == user:
		return "_your request: another approver decides_"
	}
	return "_waits for an approver_"
}

func homeIncidents(e recovery.HomeEnv, r recovery.HomeReport) string {
	s := e.Incidents
	if !s.OK() {
		return problemLine(s.Problem)
	}
	if len(s.Value) == 0 {
		return ":white_check_mark: none"
	}
	return list(len(s.Value), func(i int) string {
		in := s.Value[i]
		line := fmt.Sprintf("`%s` *%s* %s — %s · opened %s", esc(in.ID), in.Severity, esc(string(in.Scenario)), esc(cut(in.Title, 150)), ago(r.At, in.OpenedAt))
		if in.AckBy != "" {
			line += " · acknowledged by " + userMention(in.AckBy)
		} else {
			line += " · not acknowledged"
		}
		if escalation := e.Escalation[in.ID]; escalation != "" {
			line += "\n      _" + homeEsc(escalation) + "_"
		}
		return line
	})
}

// homeEsc escapes text for an italic span: underscores would end it early.
func homeEsc(s string) string { return strings.ReplaceAll(esc(s), "_", "ˍ") }

func homeJobs(s recovery.Section[[]recovery.Job]) string {
	if !s.OK() {
		return problemLine(s.Problem)
	}
	if len(s.Value) == 0 {
		return "_none_"
	}
	return list(len(s.Value), func(i int) string {
		j := s.Value[i]
		a, _ := recovery.ActionByID(j.Action)
		line := fmt.Sprintf("`%s` %s · %s", esc(j.ID), esc(orText(a.Label, string(j.Action))), j.State)
		if j.Current < len(j.Steps) {
			line += fmt.Sprintf(" · step %d/%d %s", j.Current+1, len(j.Steps), esc(j.Steps[j.Current].Name))
		}
		if j.IncidentID != "" {
			line += fmt.Sprintf(" · `%s`", esc(j.IncidentID))
		}
		line += " · requested by " + userMention(j.RequestedBy)
		if j.ApprovedBy != "" {
			line += ", approved by " + approverText(j.ApprovedBy)
		}
		return line
	})
}

// approverText names who approved a job: medic's own deciders ("policy", "medic")
// as the request message does, anyone else as a mention.
func approverText(id string) string {
	if id == "policy" || id == "medic" {
		return mention(id)
	}
	return userMention(id)
}

// slackGroupID is the shape of a Slack user group ID.
var slackGroupID = regexp.MustCompile(`^S[A-Z0-9]{2,20}$`)

// levelLine names a level and who is in it: people and user groups as mentions.
func levelLine(l recovery.Level) string {
	var who []string
	for _, id := range l.Slack {
		switch {
		case slackUserID.MatchString(id):
			who = append(who, "<@"+id+">")
		case slackGroupID.MatchString(id):
			who = append(who, "<!subteam^"+id+">")
		default:
			who = append(who, esc(id))
		}
	}
	line := fmt.Sprintf("*%s* (`%s`): %s", esc(orText(l.Title, l.Name)), esc(l.Name), orText(strings.Join(who, ", "), "_nobody_"))
	if l.PagerDuty {
		line += " · PagerDuty"
	}
	return line
}

// userMention mentions id when it has the shape of a user ID, else shows it escaped.
func userMention(id string) string {
	if slackUserID.MatchString(id) {
		return "<@" + id + ">"
	}
	return esc(orText(id, "—"))
}
