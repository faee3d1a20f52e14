package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/medic-ops/medic/bot"
	"github.com/medic-ops/medic/config"
	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/sandbox"
	"github.com/medic-ops/medic/store"
)

// Drills: `/drill <scenario>` plays one of the runbook's failure cases in the team's
// real workspace, in slack.drill_channel, against a private sandbox in this process
// (its GitHub, AWS, health checks and Terraform state). Each drill is a medic of its
// own (a drill's app) with its own store, IDs starting with DRILL-, escalation to the
// drill's participants only, and every message it sends marked DRILL. It shares only
// Slack with the real medic: commands, clicks and forms of the drill channel (and any
// naming a DRILL- ID) are handed to it, and nothing else is.

// drillPrefix starts the IDs of a drill's incidents, requests and jobs, and of drills.
const drillPrefix = "DRILL-"

// drillNote is the line every drill message carries; drillNotePD when drills page
// through PagerDuty (PAGERDUTY_DRILL_ROUTING_KEY).
const (
	drillNote   = ":fire_extinguisher: *DRILL*: a practice run against medic's private sandbox. No real GitHub, AWS or PagerDuty is touched."
	drillNotePD = ":fire_extinguisher: *DRILL*: a practice run against medic's private sandbox. No real GitHub or AWS is touched; pages go to the drills' own PagerDuty service."
)

// drillMaxLength ends a drill nobody ended.
const drillMaxLength = 2 * time.Hour

// maxParticipants bounds the people a drill pages (its starter included); the pages go
// through the real bot's token, within Slack's limits of the real medic.
const maxParticipants = 8

// drillFastest bounds how often a fast drill escalates again.
const drillFastest = time.Minute

// drillWiring is what makes an app a drill's.
type drillWiring struct {
	// participants are paged for every level of the escalation, and nobody else.
	participants []string
	// speed divides the escalation's interval and response times (1: as configured).
	speed int
	// linkUp tells whether the real medic's Slack link is up.
	linkUp func() bool
}

// idPrefix is the prefix of the IDs the app makes: DRILL- for a drill's, none else.
func (w *drillWiring) idPrefix() string {
	if w == nil {
		return ""
	}
	return drillPrefix
}

// escalationPolicy is the app's escalation: the config's, or for a drill the same
// matrix paging the drill's participants only, faster when asked.
func (a *app) escalationPolicy() *recovery.EscalationPolicy {
	p := a.cfg.DomainEscalation()
	if a.drill == nil {
		return p
	}
	// PagerDuty is paged only when PAGERDUTY_DRILL_ROUTING_KEY is set (newPagers).
	for name, l := range p.Levels {
		l.Slack = slices.Clone(a.drill.participants)
		p.Levels[name] = l
	}
	speed := time.Duration(max(a.drill.speed, 1))
	p.Interval = max(p.Interval/speed, drillFastest)
	for i := range p.Matrix {
		p.Matrix[i].Response /= speed
	}
	return p
}

// drills keeps this medic's drills: one at a time.
type drills struct {
	cfg    *config.Config
	ext    external
	log    *zap.Logger
	store  *store.Store
	poster *bot.Poster
	access *recovery.Access

	mu  sync.Mutex
	cur *drill
	// starting is set while a drill's sandbox and medic are being made, ending while
	// one is being taken down (both outside mu): no other drill starts meanwhile.
	starting, ending bool
	// running is set while run runs; linkUp tells whether the real medic's Slack link
	// is up (set by run).
	running bool
	linkUp  func() bool
}

// newDrills makes the drills of the medic configured by cfg, who may drill read from
// access. Its answers go through a Slack client of its own that marks them DRILL.
func newDrills(cfg *config.Config, ext external, log *zap.Logger, st *store.Store, access *recovery.Access) *drills {
	go sweepDrills(cmp.Or(cfg.Terraform.WorkDir, os.TempDir()), ext.now(), log)
	ext.slackWrap = markDrill(ext.secrets.PagerDutyDrillRoutingKey != "")
	_, poster := newSlack(ext, prometheus.NewRegistry())
	return &drills{cfg: cfg, ext: ext, log: log, store: st, poster: poster, access: access}
}

// drillDirPattern names the directories of drills (their store, Terraform's work).
const drillDirPattern = "medic-drill-*"

// sweepDrills removes from parent medic's own directories of drills older than the
// longest a drill lasts and its ending: a medic killed mid-drill left them. Younger
// ones may be another medic's, running.
func sweepDrills(parent string, now time.Time, log *zap.Logger) {
	dirs, _ := filepath.Glob(filepath.Join(parent, drillDirPattern))
	for _, dir := range dirs {
		fi, err := os.Lstat(dir)
		if err != nil || !fi.IsDir() || now.Sub(fi.ModTime()) < drillMaxLength+time.Hour || !ownedByMe(fi) {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			log.Warn("could not remove a drill's directory left behind", zap.String("dir", dir), zap.Error(err))
		}
	}
}

// markDrill marks every message a drill sends to Slack, saying whether it pages
// through PagerDuty.
func markDrill(pagerDuty bool) func(http.RoundTripper) http.RoundTripper {
	note := drillNote
	if pagerDuty {
		note = drillNotePD
	}
	return func(next http.RoundTripper) http.RoundTripper { return bot.DrillMarking(next, note) }
}

// run keeps the drills until ctx ends, then stops the one running.
func (d *drills) run(ctx context.Context, linkUp func() bool) {
	d.mu.Lock()
	d.running, d.linkUp = true, linkUp
	d.mu.Unlock()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			d.mu.Lock()
			d.running = false
			d.mu.Unlock()
			d.end(context.WithoutCancel(ctx), "", "medic stopped")
			return
		case <-t.C:
			d.watch(ctx)
		}
	}
}

// drill is one drill running.
type drill struct {
	id, scenario string
	starter      string
	participants []string
	speed        int
	started      time.Time
	sb           *sandbox.Sandbox
	app          *app
	dir          string
	stop         context.CancelFunc
	// exited is closed when the drill's medic stopped.
	exited chan struct{}
	// secret signs the webhooks staged for the drill's medic; token, awsKey and
	// statePassword are the only credentials its sandbox's GitHub, AWS and Terraform
	// state take (all drawn per drill): nothing else on the host changes the drill's
	// world or feeds its medic.
	secret, token, awsKey, statePassword string
}

// drillUsage is /drill's help.
const drillUsage = "`/drill list` lists the scenarios; `/drill <scenario> [@people…] [fast]` starts one here with you and the people named " +
	"(they are the only ones paged; `fast` makes the escalation 10 times faster); `/drill stop <id>` ends it with its report."

// command answers /drill.
func (d *drills) command(ctx context.Context, cmd slack.SlashCommand) {
	reply := func(text string) {
		if err := d.poster.Ephemeral(ctx, cmd.ChannelID, cmd.UserID, cmd.ResponseURL, text); err != nil {
			d.log.Error("could not answer /drill", zap.String("user", cmd.UserID), zap.Error(err))
		}
	}
	if cmd.ChannelID != d.cfg.Slack.DrillChannel {
		reply(fmt.Sprintf("Drills are played in <#%s>: type /drill there.", d.cfg.Slack.DrillChannel))
		return
	}
	if ok, err := d.hasRole(ctx, cmd.UserID, recovery.RoleResponder); err != nil || !ok {
		d.log.Info("drill refused: not a responder", zap.String("user", cmd.UserID), zap.Error(err))
		msg := "Only responders (config key access.roles) run drills."
		if err != nil {
			msg += " medic could not check your role: try again."
		}
		reply(msg)
		return
	}
	args := strings.Fields(cmd.Text)
	switch {
	case len(args) == 0 || args[0] == "help":
		reply(drillUsage)
	case args[0] == "list":
		reply(d.list())
	case args[0] == "stop":
		if len(args) != 2 {
			reply("Usage: `/drill stop <id>`, with the ID the drill's first message gives.")
			return
		}
		reply(d.stop(ctx, args[1], cmd.UserID))
	default:
		reply(d.startCommand(ctx, cmd.UserID, args))
	}
}

// hasRole tells whether user holds one of roles in one of the environments.
func (d *drills) hasRole(ctx context.Context, user string, roles ...recovery.Role) (bool, error) {
	var last error
	for _, env := range slices.Sorted(maps.Keys(d.cfg.Environments)) {
		for _, role := range roles {
			ok, err := d.access.Has(ctx, user, env, role)
			if ok {
				return true, nil
			}
			if err != nil {
				last = err
			}
		}
	}
	return false, last
}

// stop ends drill id for user: one of its participants, or an admin.
func (d *drills) stop(ctx context.Context, id, user string) string {
	d.mu.Lock()
	cur := d.cur
	d.mu.Unlock()
	if cur != nil && cur.id == id && !slices.Contains(cur.participants, user) {
		if ok, _ := d.hasRole(ctx, user, recovery.RoleAdmin); !ok {
			return fmt.Sprintf("Only the people in drill `%s` (or an admin) stop it.", id)
		}
	}
	return d.end(ctx, id, "stopped by "+user)
}

// list names the scenarios a drill can play, and the drill running.
func (d *drills) list() string {
	var b strings.Builder
	b.WriteString("Scenarios to drill (`/drill <scenario>`):\n")
	for _, c := range sandbox.Cases() {
		fmt.Fprintf(&b, "• `%s`: %s\n", c.Name, c.About)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if c := d.cur; c != nil {
		fmt.Fprintf(&b, "Running: `%s` (%s), started by <@%s> %s ago.", c.id, c.scenario, c.starter, d.ext.now().Sub(c.started).Round(time.Second))
	} else {
		b.WriteString("No drill is running.")
	}
	return b.String()
}

// mentionRE is a person as Slack escapes a mention in a command's text.
var mentionRE = regexp.MustCompile(`^<@([UW][A-Z0-9]{2,20})(\|[^>]{0,80})?>$`)

// startCommand starts the drill args ask for, as user, and says how it went.
func (d *drills) startCommand(ctx context.Context, user string, args []string) string {
	c, ok := sandbox.CaseByName(args[0])
	if !ok {
		return fmt.Sprintf("medic has no scenario %q. %s", cut(args[0], 40), drillUsage)
	}
	people, speed := []string{user}, 1
	for _, a := range args[1:] {
		if m := mentionRE.FindStringSubmatch(a); m != nil {
			people = append(people, m[1])
			continue
		}
		if a == "fast" {
			speed = 10
			continue
		}
		return fmt.Sprintf("medic does not understand %q: name people with @ (Slack sends their IDs), or say `fast`. %s", cut(a, 40), drillUsage)
	}
	slices.Sort(people)
	people = slices.Compact(people)
	if len(people) > maxParticipants {
		return fmt.Sprintf("A drill pages at most %d people, you included.", maxParticipants)
	}
	for _, p := range people {
		// Only people medic knows are paged: nobody is messaged for being named.
		if ok, err := d.hasRole(ctx, p, recovery.RoleResponder, recovery.RoleApprover, recovery.RoleAdmin); err != nil || !ok {
			return fmt.Sprintf("<@%s> holds no role in medic's config (access.roles), so a drill does not page them.", p)
		}
	}
	id, err := d.start(ctx, c, user, people, speed)
	if err != nil {
		var ue *recovery.UserError
		if errors.As(err, &ue) {
			return ue.Msg
		}
		d.log.Error("could not start a drill", zap.String("scenario", c.Name), zap.Error(err))
		return "medic could not start the drill: " + recovery.Redact(err.Error())
	}
	return fmt.Sprintf("Drill `%s` started: its alert comes in a moment. `/drill stop %s` ends it.", id, id)
}

// cut shortens s to n runes at most, saying so.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// start starts a drill of c: a sandbox, a drill's app on it, the case staged.
func (d *drills) start(ctx context.Context, c sandbox.Case, starter string, people []string, speed int) (string, error) {
	if !d.store.Sole() {
		return "", &recovery.UserError{Msg: "Drills need a medic with one replica (a SQLite store): with several, Slack hands a drill's clicks to any of them, and the drill lives in one."}
	}
	if err := d.reserve(); err != nil {
		return "", err
	}
	dr := &drill{id: drillPrefix + rand.Text()[:8], scenario: c.Name, starter: starter,
		participants: people, speed: speed, started: d.ext.now()}
	published := false
	defer func() {
		// Whatever happened (an error, medic stopping, a panic), the slot is free again
		// and a drill that never ran is taken down.
		d.mu.Lock()
		d.starting = false
		d.mu.Unlock()
		if !published {
			dr.close()
		}
	}()
	if err := d.open(ctx, dr); err != nil {
		return "", err
	}
	d.auditDrill(ctx, starter, "drill.started", dr, map[string]string{"participants": strings.Join(people, ","), "speed": fmt.Sprint(speed)})
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.running {
		return "", &recovery.UserError{Msg: "medic is stopping: the drill did not start."}
	}
	d.cur, published = dr, true
	go d.stage(context.WithoutCancel(ctx), dr, c)
	return dr.id, nil
}

// reserve takes the one drill slot, or says why it cannot.
func (d *drills) reserve() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch cur := d.cur; {
	case !d.running:
		return &recovery.UserError{Msg: "medic is starting or stopping: try again in a moment."}
	case d.starting:
		return &recovery.UserError{Msg: "A drill is starting: one at a time. `/drill list` shows it once it runs."}
	case d.ending:
		return &recovery.UserError{Msg: "A drill is ending: one at a time. Try again in a moment."}
	case cur != nil:
		return &recovery.UserError{Msg: fmt.Sprintf("Drill `%s` (%s) is running: one at a time. `/drill stop %s` ends it.", cur.id, cur.scenario, cur.id)}
	}
	d.starting = true
	return nil
}

// open makes dr's sandbox and app, and runs the app until the drill ends (not when
// ctx, the command's, does).
func (d *drills) open(ctx context.Context, dr *drill) error {
	dir, err := os.MkdirTemp(d.cfg.Terraform.WorkDir, drillDirPattern)
	if err != nil {
		return fmt.Errorf("making the drill's directory: %w", err)
	}
	dr.dir = dir
	if err := os.Chmod(dir, 0o711); err != nil {
		return err
	}
	// Each credential is 130 random bits (crypto/rand.Text).
	dr.secret, dr.token = rand.Text(), "ghs_"+rand.Text()
	dr.awsKey, dr.statePassword = "AKIA"+rand.Text()[:16], rand.Text()
	dr.sb = sandbox.Start(sandbox.Options{GitHubToken: dr.token, AWSAccessKeyID: dr.awsKey, StatePassword: dr.statePassword})
	cfg, err := drillConfig(d.cfg, dr.sb, dir)
	if err != nil {
		return err
	}
	if err := dr.sb.Seed(worldFromConfig(cfg)); err != nil {
		return fmt.Errorf("seeding the drill's sandbox: %w", err)
	}
	ext := drillExternal(d.ext, dr)
	ext.drill = &drillWiring{participants: dr.participants, speed: dr.speed, linkUp: d.linkUp}
	a, err := newApp(ctx, cfg, ext, d.log.With(zap.String("drill", dr.id)))
	if err != nil {
		return fmt.Errorf("starting the drill's medic: %w", err)
	}
	dr.app = a
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	dr.stop, dr.exited = stop, make(chan struct{})
	go func() {
		defer close(dr.exited)
		if err := a.run(runCtx); err != nil {
			d.log.Error("a drill's medic stopped", zap.String("drill", dr.id), zap.Error(err))
		}
	}()
	return nil
}

// close stops dr's app and sandbox and removes its directory; what was never made is
// skipped.
func (dr *drill) close() {
	dr.halt()
	if dr.app != nil {
		dr.app.close()
	}
	if dr.sb != nil {
		dr.sb.Close()
	}
	if dr.dir != "" {
		_ = os.RemoveAll(dr.dir)
	}
}

// halt stops dr's medic and waits for it (its jobs drained within the shutdown grace);
// its store stays open for the report.
func (dr *drill) halt() {
	if dr.stop != nil {
		dr.stop()
		<-dr.exited
	}
}

// stage stages c in dr's sandbox, as if it happened just now, and delivers its
// webhooks to the drill's medic (the drill's pollers find the rest).
func (d *drills) stage(ctx context.Context, dr *drill, c sandbox.Case) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	st, err := c.Stage(dr.sb, d.ext.now())
	if err == nil && len(st.Deliveries) > 0 {
		err = st.Deliver(ctx, dr.sb, "http://"+dr.app.addr()+"/webhooks/github", dr.secret)
	}
	if err != nil && d.current() == dr.id {
		d.log.Error("could not stage the drill's scenario", zap.String("drill", dr.id), zap.Error(err))
		d.end(ctx, dr.id, "its scenario could not be staged: "+recovery.Redact(err.Error()))
	}
}

// ownedByMe tells whether fi belongs to this process's user.
func ownedByMe(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}
