package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"golang.org/x/net/netutil"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/medic-ops/medic/bot"
	"github.com/medic-ops/medic/config"
	deployaws "github.com/medic-ops/medic/deploy/aws"
	deploygithub "github.com/medic-ops/medic/deploy/github"
	"github.com/medic-ops/medic/deploy/health"
	"github.com/medic-ops/medic/deploy/terraform"
	"github.com/medic-ops/medic/handlers"
	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/store"
)

// external is how the app reaches the outside world. serve fills it from the process
// environment; demo and tests point it at the sandbox.
type external struct {
	secrets config.Secrets
	// awsEndpoint, when set, replaces every AWS endpoint (else AWS_ENDPOINT_URL applies).
	awsEndpoint string
	// awsCredentials, when set, replace AWS's default credential chain.
	awsCredentials sdkaws.CredentialsProvider
	// socketOptions tune the Socket Mode client (tests shorten ping intervals).
	socketOptions []socketmode.Option
	// httpClient is used for health checks and GitHub; nil means the defaults.
	httpClient *http.Client
	now        func() time.Time
	// clock makes the tickers of medic's rounds and of running jobs (the wall clock
	// when nil).
	clock recovery.Clock
	// terraformEnv is extra environment for terraform (the sandbox's AWS settings).
	terraformEnv []string
	// sharedStore opens a SQLite store without taking it for this process alone: only
	// for tests that run two replicas on one SQLite file (the leader election's). In
	// production a second medic on the same SQLite file is refused.
	sharedStore bool
	// slackWrap, when set, wraps the transport of every call to Slack (a drill's
	// marks its messages DRILL).
	slackWrap func(http.RoundTripper) http.RoundTripper
	// drill, when set, makes this app a drill's: see drillWiring.
	drill *drillWiring
}

// app is one running medic: store, Slack link, handlers, recovery engine, pollers and
// HTTP listener.
type app struct {
	cfg         *config.Config
	log         *zap.Logger
	store       *store.Store
	bot         *bot.Bot
	engine      *recovery.Engine
	runPoller   *recovery.RunPoller
	alarmPoller *recovery.AlarmPoller
	// listener and server are the public port (the GitHub webhook only);
	// metricsListener and metricsServer the operators' (/metrics and the probes).
	listener        net.Listener
	server          *http.Server
	metricsListener net.Listener
	metricsServer   *http.Server
	now             func() time.Time
	clock           recovery.Clock
	pollRounds      *prometheus.CounterVec
	// escalationWake asks the escalation loop for a round before its next tick.
	escalationWake chan struct{}
	// leader says whether this replica runs the pollers and timers.
	leader *leadership
	// terraform is the Terraform runner, checked beside the start.
	terraform *pendingTerraform
	// home keeps the Slack Home tab, told of changes by the engine's publishers.
	home *handlers.Home
	// router is what the bot hands people's commands and clicks to.
	router *handlers.Router
	// access says who holds which role (the user groups' members cached).
	access *recovery.Access
	// drill is set on a drill's app; drills on the app that takes /drill (config key
	// slack.drill_channel).
	drill  *drillWiring
	drills *drills
}

// newApp wires medic from cfg. It opens the store and the listener, so a bad store
// URL or a busy port fails here, before Slack is contacted. Call run, then close.
func newApp(ctx context.Context, cfg *config.Config, ext external, log *zap.Logger) (*app, error) {
	ext = ext.withDefaults()
	log = redactLogs(log)
	if err := protect(ext, log); err != nil {
		return nil, err
	}
	envs, err := recovery.NewEnvironments(cfg.DomainEnvironments())
	if err != nil {
		return nil, fmt.Errorf("reading environments: %w", err)
	}
	// On SQLite this process is the store's only medic (a second one is refused), so
	// a job found running at start belongs to a dead process.
	st, err := store.Open(ctx, cfg.Store, store.Options{Now: ext.now, Sole: !ext.sharedStore})
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: log, store: st, now: ext.now, clock: ext.clock, escalationWake: make(chan struct{}, 1), drill: ext.drill}
	ok := false
	defer func() {
		if !ok {
			a.close()
		}
	}()
	src, err := newSources(ctx, cfg, ext, envs, st)
	if err != nil {
		return nil, err
	}
	reg := a.newRegistry()
	api, poster := newSlack(ext, reg)
	// One view of the roles (and one cache of user groups) for the buttons, the Home
	// tab and the drills: what the Home offers is what Decide allows.
	roles, _ := cfg.DomainAccess()
	a.access = recovery.NewAccess(roles, poster, cfg.Access.GroupCacheTTL, cfg.Access.GroupCacheMaxStale, ext.now)
	if a.home, err = newHome(cfg, ext, src, poster, a); err != nil {
		return nil, err
	}
	if a.engine, err = a.newEngine(ext, src, api, poster); err != nil {
		return nil, err
	}
	a.newPollers(src)
	if cfg.Slack.DrillChannel != "" && ext.drill == nil {
		a.drills = newDrills(cfg, ext, a.log.Named("drill"), st, a.access)
	}
	if a.bot, err = a.newBot(src, api, poster, reg, ext.socketOptions); err != nil {
		return nil, err
	}
	if err := a.listen(ext, src, reg); err != nil {
		return nil, err
	}
	ok = true
	return a, nil
}

// withDefaults fills what ext may leave out: the wall clock.
func (ext external) withDefaults() external {
	if ext.now == nil {
		ext.now = time.Now
	}
	if ext.clock == nil {
		ext.clock = recovery.SystemClock{}
	}
	return ext
}

// protect runs before anything reads a secret or writes a file: another process of
// medic's user (Terraform, a provider) cannot read medic's memory or environment, and
// what medic writes is private. Every secret medic holds is redacted wherever text
// leaves it (Slack, GitHub issues, logs, the store); one too short to redact safely is
// named here.
func protect(ext external, log *zap.Logger) error {
	if err := terraform.ProtectProcess(); err != nil {
		return err
	}
	if n := recovery.KnownSecret(ext.secrets.Values()...); n > 0 {
		log.Warn("secrets shorter than the redaction minimum are not redacted by value (only by shape)", zap.Int("count", n), zap.Int("min_length", recovery.MinKnownSecret))
	}
	return nil
}

// sources are what medic reads the world through (AWS, GitHub, health checks, the
// store) and the services built on them alone.
type sources struct {
	envs      *recovery.Environments
	pipeline  *recovery.Pipeline
	store     *store.Store
	aws       *deployaws.Provider
	github    *deploygithub.Client
	health    *health.Checker
	status    *recovery.StatusService
	diagnoser *recovery.Diagnoser
	// reads are the reads /status, diagnostics and previews share.
	reads *recovery.SharedReads
}

// newSources connects to AWS and GitHub and builds /status and the diagnoser on them.
func newSources(ctx context.Context, cfg *config.Config, ext external, envs *recovery.Environments, st *store.Store) (*sources, error) {
	s := &sources{envs: envs, pipeline: cfg.DomainPipeline(), store: st}
	var err error
	s.aws, err = deployaws.NewProvider(ctx, deployaws.Options{Endpoint: ext.awsEndpoint, Credentials: ext.awsCredentials})
	if err != nil {
		return nil, err
	}
	trust := cfg.RunTrust()
	s.github, err = deploygithub.Connect(ctx, deploygithub.Options{
		BaseURL: ext.secrets.GitHubAPIURL, Token: ext.secrets.GitHubToken, App: githubApp(ext.secrets), HTTPClient: ext.httpClient,
		Owner: cfg.GitHub.Owner, Repo: cfg.GitHub.Repo, Trust: &trust,
	})
	if err != nil {
		return nil, err
	}
	s.health = health.New(ext.httpClient, s.aws, ext.now)
	// /status, alert diagnostics and previews share their reads for status.freshness;
	// verification and the pollers read AWS, GitHub and health themselves.
	if s.reads, err = recovery.NewSharedReads(recovery.ReadSources{Functions: s.aws, Alarms: s.aws, Health: s.health, Deploys: s.github},
		*cfg.Status.Freshness, max(cfg.Status.SectionTimeout, cfg.Pipeline.DiagnosticTimeout), ext.now); err != nil {
		return nil, err
	}
	s.status, err = recovery.NewStatusService(envs, recovery.StatusSources{
		Functions: s.reads,
		Alarms:    s.reads,
		Health:    s.reads,
		Deploys:   s.reads,
		Incidents: st,
		Jobs:      st,
	}, cfg.Status.SectionTimeout, ext.now, recovery.WithFreshness(*cfg.Status.Freshness))
	if err != nil {
		return nil, err
	}
	// An alert's diagnostics read the world anew (a failure changes it); /status and
	// the Home tab may answer from their reads for status.freshness after.
	fresh := s.reads.Fresh()
	s.diagnoser, err = recovery.NewDiagnoser(recovery.DiagSources{
		Runs: s.github, History: s.github, Env: s.aws, Records: s.aws, Functions: fresh, Alarms: fresh, Health: fresh,
	}, cfg.Pipeline.DiagnosticTimeout, s.pipeline.RollbackJob, ext.now)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// newRegistry makes the registry /metrics serves, with the process's and the pollers'
// metrics, and the leadership whose gauge it holds.
func (a *app) newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.pollRounds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "medic_poll_rounds_total", Help: "Poll rounds finished, by poller and outcome."}, []string{"poller", "outcome"})
	reg.MustRegister(a.pollRounds)
	leaderGauge := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "medic_leader", Help: "1 while this replica holds the leader lease (runs the pollers and the escalation timer)."})
	reg.MustRegister(leaderGauge)
	a.leader = &leadership{id: replicaID(a.cfg.Replicas.ID), lease: a.cfg.Replicas.LeaderLease, store: a.store, log: a.log.Named("leader"), gauge: leaderGauge}
	return reg
}

// newSlack makes the Slack Web API client, every write of which leaves through the
// redactor (counted in reg), and the poster on it.
func newSlack(ext external, reg prometheus.Registerer) (*slack.Client, *bot.Poster) {
	redactedWrites := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "medic_redacted_writes_total",
		Help: "Writes that still held a credential at medic's exit and were redacted there, by exit (a part of medic let it through)."}, []string{"exit"})
	reg.MustRegister(redactedWrites)
	slackOpts := []slack.Option{slack.OptionAppLevelToken(ext.secrets.SlackAppToken)}
	if ext.secrets.SlackAPIURL != "" {
		slackOpts = append(slackOpts, slack.OptionAPIURL(ext.secrets.SlackAPIURL))
	}
	// Every write to Slack leaves through the redactor.
	slackHTTP := &http.Client{}
	if ext.httpClient != nil {
		*slackHTTP = *ext.httpClient
	}
	if ext.slackWrap != nil {
		slackHTTP.Transport = ext.slackWrap(slackHTTP.Transport)
	}
	slackHTTP.Transport = bot.RedactingTransport(slackHTTP.Transport, redactedWrites.WithLabelValues("slack").Inc)
	slackOpts = append(slackOpts, slack.OptionHTTPClient(slackHTTP))
	// After the HTTP client: slack-go wraps the client it has when this option applies.
	slackOpts = append(slackOpts, slack.OptionRetry(3))
	api := slack.New(ext.secrets.SlackBotToken, slackOpts...)
	return api, bot.NewPoster(api)
}

// newEngine makes the recovery engine: actions (with Terraform when it can run),
// escalation to Slack and PagerDuty, and resolution.
func (a *app) newEngine(ext external, src *sources, api *slack.Client, poster *bot.Poster) (*recovery.Engine, error) {
	cfg, st := a.cfg, src.store
	actions := a.actionDeps(ext, src, poster)
	pagers, err := a.newPagers(ext, api)
	if err != nil {
		return nil, err
	}
	return recovery.NewEngine(recovery.EngineDeps{
		Envs: src.envs, Pipeline: src.pipeline, Claims: st, Incidents: st, Sources: st, Audit: st, Publisher: bot.Notifying(poster, a.home),
		Diagnoser: src.diagnoser, Runs: src.github, History: src.github, Alarms: src.aws, Health: src.health, Commits: src.github,
		Logger: a.log, Now: ext.now, Clock: ext.clock,
		Actions:    actions,
		Escalation: &recovery.EscalationDeps{Policy: a.escalationPolicy(), Pages: st, Due: st, Pagers: pagers, Wake: a.wakeEscalation},
		Resolution: &recovery.ResolutionDeps{Checklists: poster, Issues: src.github, Labels: cfg.Incidents.IssueLabels, Checklist: cfg.Incidents.Checklist, Names: poster},
		IDPrefix:   a.drill.idPrefix(),
	})
}

// actionDeps are what the recovery actions run with. Without a usable Terraform they
// still run; the Terraform ones say why they cannot.
func (a *app) actionDeps(ext external, src *sources, poster *bot.Poster) *recovery.ActionDeps {
	cfg, st := a.cfg, src.store
	_, policy := cfg.DomainAccess()
	// Terraform's check (its version, run through the confined shim) takes a few
	// hundred milliseconds: it runs beside the start, and a Terraform action waits for it.
	a.terraform = startTerraform(func() recovery.Terraform {
		runner, err := newTerraform(cfg, ext, src.github, src.aws, a.log)
		if err != nil {
			a.log.Warn("terraform is not available: Terraform actions will fail until it is", zap.Error(err))
			return unavailableTerraform{err}
		}
		return runner
	})
	tf := a.terraform
	// Functions read anew, never shared: a planned rollback's target is chosen from the
	// version running now.
	return &recovery.ActionDeps{
		Access:      a.access,
		Policy:      policy,
		Requests:    st,
		Expiry:      st,
		Views:       bot.Notifying(poster, a.home),
		Jobs:        st,
		Slots:       st,
		Workflows:   src.github,
		Reverter:    src.github,
		Terraform:   tf,
		Lambda:      src.aws,
		Alarms:      src.aws,
		Tables:      src.aws,
		Deploys:     src.github,
		Functions:   src.aws,
		StateLocks:  src.aws,
		Deployed:    src.github,
		Plans:       st,
		Previews:    recovery.PreviewConfig{Workers: cfg.Previews.Workers, Queue: cfg.Previews.Queue, Timeout: cfg.Previews.Timeout},
		Branch:      cfg.GitHub.Branch,
		Verify:      recovery.VerifyConfig{Watch: cfg.Verify.Watch, Interval: cfg.Verify.Interval},
		JobLease:    cfg.Jobs.Lease,
		SoleProcess: st.Sole(),
	}
}

// newPagers are where pages go: Slack always, PagerDuty when a routing key is set.
func (a *app) newPagers(ext external, api *slack.Client) ([]recovery.Pager, error) {
	pagers := []recovery.Pager{bot.NewSlackPager(api)}
	if ext.secrets.PagerDutyRoutingKey == "" && a.drill != nil {
		a.log.Info("this drill never pages through PagerDuty: PAGERDUTY_DRILL_ROUTING_KEY is not set")
		return pagers, nil
	}
	if ext.secrets.PagerDutyRoutingKey == "" {
		a.log.Info("PagerDuty is off: PAGERDUTY_ROUTING_KEY is not set; pages go to Slack only")
		return pagers, nil
	}
	pd, err := newPagerDuty(ext.secrets.PagerDutyRoutingKey, cmp.Or(ext.secrets.PagerDutyEventsURL, a.cfg.PagerDuty.EventsURL), ext.httpClient)
	if err != nil {
		return nil, err
	}
	pd.drill = a.drill != nil
	return append(pagers, pd), nil
}

// newPollers makes the GitHub Actions and CloudWatch alarm pollers, which submit what
// they see to the engine.
func (a *app) newPollers(src *sources) {
	a.runPoller = &recovery.RunPoller{Runs: src.github, Cursors: src.store, Pipeline: src.pipeline, Submit: a.engine.Submit, Now: a.now, Logger: a.log.Named("poll"),
		Followed: a.engine.FollowedRuns}
	a.alarmPoller = &recovery.AlarmPoller{Envs: src.envs, Alarms: src.aws, Deploys: src.github, Incidents: src.store, Pipeline: src.pipeline,
		Submit: a.engine.Submit, Now: a.now, Logger: a.log.Named("alarm-poll")}
}

// newBot makes the Slack side: the Socket Mode bot and the router it hands people's
// commands and clicks to, which hands them to the engine.
func (a *app) newBot(src *sources, api *slack.Client, poster *bot.Poster, reg prometheus.Registerer, socketOptions []socketmode.Option) (*bot.Bot, error) {
	var home handlers.HomeService
	if a.drill == nil {
		home = a.home // a drill keeps no Home tab
	}
	router, err := handlers.NewRouter(poster, handlers.Services{
		Status:     src.status,
		Requests:   a.engine,
		Jobs:       a.engine,
		Paging:     a.engine,
		Resolution: a.engine,
		Incidents:  a.engine,
		Home:       home,
	}, handlers.Options{
		CommandChannels: a.cfg.Slack.CommandChannels,
		Environments:    src.envs.Names(),
		Logger:          a.log.Named("handlers"),
	})
	if err != nil {
		return nil, err
	}
	a.router = router
	var h bot.Handler = router
	if a.drills != nil {
		h = drillRouter{real: router, drills: a.drills}
	}
	return bot.New(api, h, a.botOptions(src.store, reg, socketOptions)), nil
}

// botOptions are the Slack bot's: its workers and queue from slack.workers and
// slack.queue, claims in the store.
func (a *app) botOptions(claims bot.Claimer, reg prometheus.Registerer, socketOptions []socketmode.Option) bot.Options {
	return bot.Options{
		Workers:       a.cfg.Slack.Workers,
		Queue:         a.cfg.Slack.Queue,
		Claimer:       claims,
		Logger:        a.log,
		Metrics:       bot.NewMetrics(reg),
		SocketOptions: socketOptions,
	}
}

// listen opens the public listener (the GitHub webhook) and the operators' (/metrics
// and the probes), and makes their servers.
func (a *app) listen(ext external, src *sources, reg *prometheus.Registry) error {
	var err error
	a.listener, err = net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s (config key listen): %w", a.cfg.Listen, err)
	}
	a.metricsListener, err = net.Listen("tcp", a.cfg.MetricsListen)
	if err != nil {
		return fmt.Errorf("listening on %s (config key metrics_listen): %w", a.cfg.MetricsListen, err)
	}
	// However many connect, medic keeps descriptors for its own calls to Slack,
	// GitHub and AWS: connections beyond these wait to be accepted.
	a.listener = netutil.LimitListener(a.listener, maxPublicConns)
	a.metricsListener = netutil.LimitListener(a.metricsListener, maxMetricsConns)
	ops := http.NewServeMux()
	ops.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	ops.HandleFunc("GET /readyz", a.readyz)
	ops.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	if a.cfg.Pprof {
		servePprof(ops)
	}
	public := http.NewServeMux()
	public.Handle("/webhooks/github", deploygithub.NewWebhook(deploygithub.WebhookOptions{
		Secret:     ext.secrets.WebhookSecret,
		Repository: a.cfg.GitHub.Owner + "/" + a.cfg.GitHub.Repo,
		Claim:      src.store.Claim,
		Sink:       func(_ context.Context, sig recovery.Signal) bool { return a.engine.Submit(sig) },
		Unclaim:    src.store.Unclaim,
		Workflows:  workflowFiles(src.pipeline),
		RunFacts:   src.github.RunFacts,
		Learn:      src.github.RememberRun,
		Logger:     a.log,
		Now:        ext.now,
	}))
	a.server = newServer(public)
	a.metricsServer = newServer(ops)
	return nil
}

// servePprof adds Go's runtime profiles to the operators' mux (config key pprof). The
// command line is left out: it is nobody's business on a shared port.
func servePprof(ops *http.ServeMux) {
	ops.HandleFunc("GET /debug/pprof/", pprof.Index)
	ops.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	ops.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	ops.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}

// The listeners' limits. The public port faces anyone who reaches it: every
// connection is bounded in time before any signature is checked (the body's size and
// the deliveries read at once are bounded by the webhook itself).
const (
	// readHeaderTimeout and readTimeout bound reading a request's headers and all of it:
	// GitHub sends a delivery in well under a second.
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 20 * time.Second
	// writeTimeout bounds answering (GitHub gives up on a delivery after 10 s).
	writeTimeout = 30 * time.Second
	// idleTimeout closes kept-alive connections nobody uses.
	idleTimeout = 60 * time.Second
	// maxHeaderBytes caps the headers (GitHub's are about 1 KB).
	maxHeaderBytes = 64 << 10
	// httpDrain is the longest the listeners wait, within the shutdown grace, for
	// requests in flight before they close the connections left: a webhook delivery is
	// answered in well under a second, and a client stalling its body must not hold
	// the shutdown for the whole grace.
	httpDrain = 5 * time.Second
	// maxPublicConns and maxMetricsConns cap the connections each listener holds
	// (GitHub opens a few; a Prometheus and the probes one or two each).
	maxPublicConns  = 256
	maxMetricsConns = 32
)

func newServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes}
}

// shutdown stops srv: requests in flight get until grace ends, httpDrain at most, to
// finish; then whatever connections remain (a client trickling its body) are closed.
func (a *app) shutdown(grace context.Context, name string, srv *http.Server) error {
	sctx, cancel := context.WithTimeout(grace, httpDrain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		a.log.Warn("closing the connections left after the shutdown grace", zap.String("listener", name), zap.Error(err))
		return srv.Close()
	}
	return nil
}

// addr is the public listener's address (useful when the config asks for port 0).
func (a *app) addr() string { return a.listener.Addr().String() }

// metricsAddr is the operators' listener's address.
func (a *app) metricsAddr() string { return a.metricsListener.Addr().String() }

// readyz answers 200 only while the Socket Mode link is up and the store answers.
func (a *app) readyz(w http.ResponseWriter, r *http.Request) {
	if !a.bot.Ready() {
		http.Error(w, "not ready: Socket Mode link is down", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.store.Ping(ctx); err != nil {
		http.Error(w, "not ready: store does not answer", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// run serves until ctx ends or a part fails for good, then shuts everything down
// within the shutdown grace (config key shutdown_grace).
func (a *app) run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	// One grace for the whole shutdown, counted from when ctx ends (SIGTERM, or a part
	// failing for good): every drain shares it, so they overlap rather than add up.
	grace, endGrace := graceAfter(ctx, a.cfg.ShutdownGrace)
	defer endGrace()
	a.serveHTTP(ctx, grace, g)
	if a.drill == nil {
		// A drill's app has no Slack link, no Home and no memory of its own to settle:
		// the app that took /drill hands it its commands and clicks.
		a.runSlack(ctx, grace, g)
	}
	g.Go(func() error { return a.leader.run(ctx) })
	g.Go(func() error { return a.purgeClaims(ctx) })
	g.Go(func() error {
		a.engine.Run(ctx, grace)
		// Running recovery jobs finish their step, or are interrupted and say so.
		a.engine.DrainJobs(grace)
		return nil
	})
	a.runRounds(ctx, g)
	return g.Wait()
}

// runSlack runs the Slack link, the settling of the start's memory, the Home tab and
// the drills in g until ctx ends.
func (a *app) runSlack(ctx, grace context.Context, g *errgroup.Group) {
	g.Go(func() error {
		// Queued Slack work finishes, or its context ends with the grace.
		err := a.bot.Run(ctx, grace)
		if err != nil {
			return err
		}
		if ctx.Err() == nil {
			return errors.New("slack link stopped unexpectedly")
		}
		return nil
	})
	g.Go(func() error { a.settleMemory(ctx); return nil })
	g.Go(func() error { return a.home.Run(ctx) })
	if a.drills != nil {
		g.Go(func() error { a.drills.run(ctx, a.bot.Ready); return nil })
	}
}

// graceAfter returns a context that ends grace after ctx does, with a cause naming
// the grace: the deadline of a shutdown. It has ctx's values; stop releases it.
func graceAfter(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	gctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	go func() {
		select {
		case <-ctx.Done():
		case <-gctx.Done():
			return
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel(fmt.Errorf("the shutdown grace (%s, config key shutdown_grace) is over", grace))
		case <-gctx.Done():
		}
	}()
	return gctx, func() { cancel(context.Canceled) }
}

// serveHTTP serves both listeners in g until ctx ends, then shuts them down within
// grace.
func (a *app) serveHTTP(ctx, grace context.Context, g *errgroup.Group) {
	for name, srv := range map[string]struct {
		s *http.Server
		l net.Listener
	}{"listen": {a.server, a.listener}, "metrics_listen": {a.metricsServer, a.metricsListener}} {
		g.Go(func() error {
			if err := srv.s.Serve(srv.l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("http listener (%s): %w", name, err)
			}
			return nil
		})
		g.Go(func() error {
			<-ctx.Done()
			return a.shutdown(grace, name, srv.s)
		})
	}
}

// runRounds runs medic's periodic rounds in g until ctx ends.
func (a *app) runRounds(ctx context.Context, g *errgroup.Group) {
	// Each first round waits for the Slack link (at most firstRoundsWait).
	start := func(round func() error) {
		g.Go(func() error {
			a.linkUp(ctx, firstRoundsWait)
			return round()
		})
	}
	// Every replica looks for jobs whose process died (claimed, so one marks each).
	start(func() error { return a.every(ctx, "jobs", 5*time.Second, a.engine.RecoverJobs, nil) })
	// The rest runs on the leader only. An escalation round asked for by an alert
	// (an IMMEDIATE row) runs where the alert went out: pages are claimed.
	start(func() error { return a.every(ctx, "requests", 15*time.Second, a.engine.ExpireRequests, a.leader.leads) })
	start(func() error {
		return a.everyOr(ctx, "escalation", escalationTick, a.escalationWake, a.engine.Escalate, a.leader.leads)
	})
	if *a.cfg.Pipeline.PollInterval > 0 {
		start(func() error {
			return a.every(ctx, "runs", *a.cfg.Pipeline.PollInterval, a.runPoller.Poll, a.leader.leads)
		})
	}
	if *a.cfg.Pipeline.AlarmPollInterval > 0 {
		start(func() error {
			return a.every(ctx, "alarms", *a.cfg.Pipeline.AlarmPollInterval, a.alarmPoller.Poll, a.leader.leads)
		})
	}
}

// every runs a poller now and then every interval until ctx ends. A failing round is
// logged by the poller and retried at the next tick. With gate, rounds run only while
// gate says so (the leader's work).
func (a *app) every(ctx context.Context, name string, interval time.Duration, poll func(context.Context) error, gate func() bool) error {
	return a.everyOr(ctx, name, interval, nil, poll, gate)
}

// everyOr is every, also running a round whenever wake receives; woken rounds run
// whatever gate says.
func (a *app) everyOr(ctx context.Context, name string, interval time.Duration, wake <-chan struct{}, poll func(context.Context) error, gate func() bool) error {
	recovery.Rounds(ctx, a.clock, interval, wake, gate, func(ctx context.Context) {
		outcome := "ok"
		if err := poll(ctx); err != nil {
			outcome = "error"
		}
		if ctx.Err() == nil {
			a.pollRounds.WithLabelValues(name, outcome).Inc()
		}
	})
	return nil
}

// wakeEscalation asks the escalation loop for a round now; it never blocks (a round
// already asked for covers this one too).
func (a *app) wakeEscalation() {
	select {
	case a.escalationWake <- struct{}{}:
	default:
	}
}

// escalationTick is how often medic looks for escalations due and pages to send.
const escalationTick = 5 * time.Second

// terraformPath finds the terraform binary: a path as given, else on PATH.
func terraformPath(bin string) string {
	if bin == "" {
		return ""
	}
	if strings.ContainsRune(bin, filepath.Separator) {
		return bin
	}
	if p, err := exec.LookPath(bin); err == nil {
		return p
	}
	return ""
}

// newTerraform makes the Terraform runner: the configured binary, run through medic's
// own binary as its shim (confined with Landlock, as terraform.user), with each
// environment's AWS identity and providers only from where the config says.
func newTerraform(cfg *config.Config, ext external, gh *deploygithub.Client, aws *deployaws.Provider, log *zap.Logger) (*terraform.Runner, error) {
	o := terraform.Options{
		ExecPath: terraformPath(cfg.Terraform.Bin), WorkRoot: cfg.Terraform.WorkDir,
		Archives: gh, Logger: log, Env: ext.terraformEnv, Credentials: aws.TerraformCredentials,
		ProviderMirror: cfg.Terraform.ProviderMirror, PluginDirs: cfg.Terraform.PluginDirs,
	}
	shim, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding medic's own binary, the terraform shim: %w", err)
	}
	o.Shim = shim
	user := cfg.Terraform.User
	if user == "" && os.Geteuid() == 0 {
		user = "nobody" // medic may switch users: Terraform gets none of root's powers
	}
	if user != "" && user != "medic" {
		if o.RunAs, err = terraform.LookupIdentity(user); err != nil {
			return nil, fmt.Errorf("terraform.user: %w", err)
		}
	}
	r, err := terraform.New(o)
	if err != nil {
		return nil, err
	}
	log.Info("terraform ready", zap.String("version", r.Version()), zap.String("confinement", r.Confinement()),
		zap.String("providers_from", providersFrom(cfg.Terraform)))
	return r, nil
}

func providersFrom(t config.TerraformBinary) string {
	var from []string
	if t.ProviderMirror != "" {
		from = append(from, t.ProviderMirror)
	}
	from = append(from, t.PluginDirs...)
	if len(from) == 0 {
		return "their registries"
	}
	return strings.Join(from, ", ")
}

// pendingTerraform is the Terraform runner while its check runs beside medic's start:
// Workspace waits for the check, then answers as the runner (or as
// unavailableTerraform when the check failed).
type pendingTerraform struct {
	done chan struct{}
	tf   recovery.Terraform
}

// startTerraform runs check on its own goroutine and returns the runner it will give.
func startTerraform(check func() recovery.Terraform) *pendingTerraform {
	p := &pendingTerraform{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.tf = check()
	}()
	return p
}

// Workspace waits for the check (or ctx), then opens the runner's workspace.
func (p *pendingTerraform) Workspace(ctx context.Context, env recovery.Environment, sha string) (recovery.TerraformWorkspace, error) {
	select {
	case <-p.done:
		return p.tf.Workspace(ctx, env, sha)
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for medic's Terraform check: %w", context.Cause(ctx))
	}
}

// wait returns once the check is over.
func (p *pendingTerraform) wait() { <-p.done }

// unavailableTerraform answers every Terraform action with why Terraform cannot run.
type unavailableTerraform struct{ err error }

func (u unavailableTerraform) Workspace(context.Context, recovery.Environment, string) (recovery.TerraformWorkspace, error) {
	return nil, fmt.Errorf("terraform is not available on this medic (config key terraform.bin): %w", u.err)
}

func workflowFiles(p *recovery.Pipeline) []string {
	var out []string
	for wf := range p.Workflows {
		out = append(out, wf)
	}
	return out
}

// purgeClaims forgets envelope and delivery IDs older than a day, hourly (Slack and
// GitHub redeliver within minutes), and finished signals older than a week.
func (a *app) purgeClaims(ctx context.Context) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if n, err := a.store.PurgeClaims(ctx, a.now().Add(-24*time.Hour)); err != nil {
				a.log.Warn("purging claims", zap.Error(err))
			} else if n > 0 {
				a.log.Debug("purged claims", zap.Int64("count", n))
			}
			// Finished signals are kept a week: longer than the pollers look back.
			if _, err := a.store.PurgeWork(ctx, a.now().Add(-7*24*time.Hour)); err != nil {
				a.log.Warn("purging finished work", zap.Error(err))
			}
			// A saved plan outlives its request only when a replica died in between;
			// requests expire within access.request_ttl (24h at most).
			if _, err := a.store.PurgePlans(ctx, a.now().Add(-48*time.Hour)); err != nil {
				a.log.Warn("purging saved plans", zap.Error(err))
			}
		}
	}
}

func (a *app) close() {
	if a.terraform != nil {
		a.terraform.wait() // its check logs, and may still be running `terraform version`
	}
	if a.listener != nil {
		a.listener.Close()
	}
	if a.metricsListener != nil {
		a.metricsListener.Close()
	}
	if a.store != nil {
		a.store.Close()
	}
}
