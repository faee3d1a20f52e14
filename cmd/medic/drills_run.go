package main

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/medic-ops/medic"
	"github.com/medic-ops/medic/config"
	"github.com/medic-ops/medic/handlers"
	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/sandbox"
)

// drillConfig is a drill's config: the runbook's world (the environments of the
// shipped example, on the drill's sandbox sb, the store in dir), with the team's
// people, roles, approvals, escalation matrix, checklist and verification from real,
// and every alert and command in the drill channel.
func drillConfig(real *config.Config, sb *sandbox.Sandbox, dir string) (*config.Config, error) {
	cfg, err := onSandbox(sb, dir, medic.ExampleConfig)
	if err != nil {
		return nil, err
	}
	ch := real.Slack.DrillChannel
	cfg.Slack.AlertChannel, cfg.Slack.CommandChannels, cfg.Slack.DrillChannel = ch, []string{ch}, ""
	for name, env := range cfg.Environments {
		env.AlertChannel = ch
		cfg.Environments[name] = env
	}
	cfg.Access = real.Access
	// The levels' people are replaced by the drill's participants (escalationPolicy).
	cfg.Escalation = real.Escalation
	cfg.Incidents = real.Incidents
	cfg.Verify = real.Verify
	cfg.Terraform.Bin, cfg.Terraform.User = real.Terraform.Bin, real.Terraform.User
	cfg.LogLevel = real.LogLevel
	// The drill's own pollers find what webhooks do not bring (an alarm, a run in
	// progress); they read only the sandbox.
	poll := drillPoll
	cfg.Pipeline.PollInterval, cfg.Pipeline.AlarmPollInterval = &poll, &poll
	return cfg, nil
}

// drillPoll is how often a drill's pollers read its sandbox.
const drillPoll = 5 * time.Second

// drillExternal is a drill's outside world: Slack as the real medic reaches it (its
// messages marked DRILL), everything else dr's sandbox, with the sandbox's
// credentials. None of the real GitHub, AWS or PagerDuty credentials is given; PagerDuty
// is paged only through PAGERDUTY_DRILL_ROUTING_KEY's service.
func drillExternal(real external, dr *drill) external {
	s := config.Secrets{
		SlackBotToken: real.secrets.SlackBotToken,
		SlackAPIURL:   real.secrets.SlackAPIURL,
		GitHubAPIURL:  dr.sb.GitHub.URL() + "/",
		GitHubToken:   dr.token,
		WebhookSecret: dr.secret,
		// Redacted wherever they would appear, like every secret medic holds.
		Others: []string{dr.statePassword},
	}
	if k := real.secrets.PagerDutyDrillRoutingKey; k != "" {
		s.PagerDutyRoutingKey, s.PagerDutyEventsURL = k, real.secrets.PagerDutyEventsURL
	}
	return external{
		secrets:        s,
		awsEndpoint:    dr.sb.AWS.URL(),
		awsCredentials: credentials.NewStaticCredentialsProvider(cmp.Or(dr.awsKey, "AKIASANDBOX0000000"), "sandbox-secret-key", ""),
		httpClient:     real.httpClient,
		now:            real.now,
		clock:          real.clock,
		slackWrap:      markDrill(s.PagerDutyRoutingKey != ""),
	}
}

// watch ends the drill running when its incidents are all resolved, its medic
// stopped, or it ran for drillMaxLength.
func (d *drills) watch(ctx context.Context) {
	d.mu.Lock()
	dr := d.cur
	d.mu.Unlock()
	if dr == nil {
		return
	}
	select {
	case <-dr.exited:
		d.end(ctx, dr.id, "its medic stopped")
		return
	default:
	}
	if d.ext.now().Sub(dr.started) > drillMaxLength {
		d.end(ctx, dr.id, fmt.Sprintf("it ran for %s", drillMaxLength))
		return
	}
	ins, err := dr.app.store.RecentIncidents(ctx, time.Time{}, 50)
	if err != nil || len(ins) == 0 {
		return
	}
	for _, in := range ins {
		if in.Status != recovery.IncidentResolved {
			return
		}
	}
	d.end(ctx, dr.id, "its incident was resolved")
}

// end ends drill id (the one running, when id is empty) for the reason why: its report
// goes in the alert's thread and into the real audit log, then its medic and sandbox
// stop. It says what it did, for the person who asked.
func (d *drills) end(ctx context.Context, id, why string) string {
	d.mu.Lock()
	dr := d.cur
	if dr == nil || (id != "" && id != dr.id) {
		d.mu.Unlock()
		return fmt.Sprintf("No drill `%s` is running. `/drill list` shows the one that is.", cut(id, 40))
	}
	d.cur, d.ending = nil, true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.ending = false
		d.mu.Unlock()
	}()
	// The drill's medic stops first (its escalation, pollers and jobs), so the report
	// is what happened, whole.
	dr.halt()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	rep := d.report(ctx, dr, why)
	text := rep.text()
	channel, thread := d.cfg.Slack.DrillChannel, ""
	if rep.incident != nil {
		channel, thread = rep.incident.Channel, rep.incident.MessageTS
	}
	note := recovery.Note{Text: recovery.Say("Drill %s ended: %s. Its report:", recovery.Code(dr.id), why), Title: "Drill report", Detail: text, Whole: true}
	if err := d.poster.Reply(ctx, channel, thread, note); err != nil {
		d.log.Error("could not post the drill's report", zap.String("drill", dr.id), zap.Error(err))
	}
	d.auditDrill(ctx, "medic", "drill.ended", dr, map[string]string{"why": why, "report": text})
	dr.close()
	return fmt.Sprintf("Drill `%s` ended; its report is in the thread.", dr.id)
}

// auditDrill records a drill's start or end in the real audit log: the action starts
// with "drill." and the incident is the drill's ID, so nothing of a drill reads as real.
func (d *drills) auditDrill(ctx context.Context, actor, action string, dr *drill, detail map[string]string) {
	detail["drill"], detail["scenario"] = dr.id, dr.scenario
	if err := d.store.AppendAudit(ctx, recovery.AuditEntry{At: d.ext.now(), Actor: actor, Action: action, IncidentID: dr.id, Detail: detail}); err != nil {
		d.log.Error("could not record the drill in the audit log", zap.String("drill", dr.id), zap.String("action", action), zap.Error(err))
	}
}

// current is the running drill's ID, "" when none runs.
func (d *drills) current() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cur == nil {
		return ""
	}
	return d.cur.id
}

// router is the running drill's router, nil when none runs.
func (d *drills) router() *handlers.Router {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cur == nil || d.cur.app == nil {
		return nil
	}
	return d.cur.app.router
}

// noDrill tells user that no drill takes what they did.
func (d *drills) noDrill(ctx context.Context, channel, user, responseURL string) {
	if channel == "" {
		return
	}
	if err := d.poster.Ephemeral(ctx, channel, user, responseURL, "No drill is running, so nothing here is taken. `/drill list` shows the scenarios."); err != nil {
		d.log.Error("could not answer", zap.String("user", user), zap.Error(err))
	}
}

// drillIDRE is a drill's incident, request or job ID as typed.
var drillIDRE = regexp.MustCompile(`^DRILL-(INC|REQ|JOB)-[0-9A-Z]{8}$`)

// namesDrill tells whether a command's text names a drill's ID (as a word of its own).
func namesDrill(text string) bool {
	return slices.ContainsFunc(strings.Fields(text), drillIDRE.MatchString)
}

// namesDrillID tells whether a button's value or action ID holds a drill's ID as one
// of its parts (medic joins them with ":" and "|").
func namesDrillID(s string) bool {
	return slices.ContainsFunc(strings.FieldsFunc(s, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-')
	}), drillIDRE.MatchString)
}

// drillRouter hands /drill, and whatever is typed or clicked in the drill channel or
// names a drill's ID, to the drills; everything else to the real router.
type drillRouter struct {
	real   *handlers.Router
	drills *drills
}

func (r drillRouter) HandleSlashCommand(ctx context.Context, cmd slack.SlashCommand) {
	switch {
	case cmd.Command == "/drill":
		r.drills.command(ctx, cmd)
	case cmd.ChannelID == r.drills.cfg.Slack.DrillChannel || namesDrill(cmd.Text):
		if dr := r.drills.router(); dr != nil {
			dr.HandleSlashCommand(ctx, cmd)
			return
		}
		r.drills.noDrill(ctx, cmd.ChannelID, cmd.UserID, cmd.ResponseURL)
	default:
		r.real.HandleSlashCommand(ctx, cmd)
	}
}

func (r drillRouter) HandleInteraction(ctx context.Context, cb slack.InteractionCallback) {
	if !r.drills.owns(cb) {
		r.real.HandleInteraction(ctx, cb)
		return
	}
	if dr := r.drills.router(); dr != nil {
		dr.HandleInteraction(ctx, cb)
		return
	}
	r.drills.noDrill(ctx, cb.Channel.ID, cb.User.ID, cb.ResponseURL)
}

// ValidateSubmission checks a form as the router it goes to would.
func (r drillRouter) ValidateSubmission(cb slack.InteractionCallback) map[string]string {
	if !r.drills.owns(cb) {
		return r.real.ValidateSubmission(cb)
	}
	if dr := r.drills.router(); dr != nil {
		return dr.ValidateSubmission(cb)
	}
	return nil
}

// HomeOpened keeps the real Home tab: drills have none.
func (r drillRouter) HomeOpened(ctx context.Context, user string) { r.real.HomeOpened(ctx, user) }

// owns tells whether cb belongs to a drill: clicked in the drill channel, or a form or
// button naming a drill's ID or channel. Home tab clicks are the real medic's.
func (d *drills) owns(cb slack.InteractionCallback) bool {
	ch := d.cfg.Slack.DrillChannel
	if cb.View.Type == slack.VTHomeTab {
		return false
	}
	if cb.Channel.ID == ch || cb.Container.ChannelID == ch {
		return true
	}
	if meta, err := url.ParseQuery(cb.View.PrivateMetadata); err == nil && cb.View.PrivateMetadata != "" {
		if meta.Get("channel") == ch || strings.HasPrefix(meta.Get("incident"), drillPrefix) {
			return true
		}
	}
	for _, a := range cb.ActionCallback.BlockActions {
		if namesDrillID(a.Value) || namesDrillID(a.ActionID) {
			return true
		}
	}
	return false
}
