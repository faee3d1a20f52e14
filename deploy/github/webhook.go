package github

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	gh "github.com/google/go-github/v66/github"
	"go.uber.org/zap"

	"github.com/medic-ops/medic/recovery"
)

// DefaultWebhookMaxBody is the default cap on a webhook body. GitHub caps payloads at
// 25 MB (docs.github.com/webhooks/webhook-events-and-payloads#payload-cap), but the
// deliveries medic takes are small: a workflow_run is 20 to 40 KB (its repository
// objects dominate), a workflow_job 5 to 15 KB even with a hundred steps. 1 MiB is
// twenty times the largest seen, and bounds what medic holds for one delivery before
// it can check the signature.
const DefaultWebhookMaxBody = 1 << 20

// DefaultWebhookInFlight is how many deliveries are read at once by default; more are
// answered 503 at once, without reading their bodies.
const DefaultWebhookInFlight = 32

// WebhookOptions configure a Webhook.
type WebhookOptions struct {
	// Secret is the webhook's secret (GITHUB_WEBHOOK_SECRET). Empty refuses every
	// delivery with 503: go-github would otherwise accept unsigned bodies.
	Secret string
	// Claim records that key was seen and reports whether this is the first time;
	// a delivery whose "github-delivery:<X-GitHub-Delivery>" was already claimed is
	// answered 200 "duplicate delivery" and not processed again. nil processes every
	// delivery; a Claim error is logged and the delivery processed anyway.
	Claim func(ctx context.Context, key string) (bool, error)
	// Sink receives the signals. It is called synchronously and must only queue the
	// work: GitHub drops a delivery that takes more than 10 seconds. It returns false
	// when it could not take the signal (medic is overloaded): the delivery is answered
	// 503 and its claim released (Unclaim), so a redelivery is processed.
	Sink func(ctx context.Context, s recovery.Signal) bool
	// Unclaim, when set, releases a delivery's claim (Claim's key) after Sink refused it.
	Unclaim func(ctx context.Context, key string) error
	// Repository is the repository medic serves, "owner/name": deliveries about
	// another repository are answered 202 and ignored, before anything of them is
	// read. A GitHub App's webhook carries the events of every repository the app is
	// installed on, all signed with the same secret. Empty takes every repository's.
	Repository string
	// Workflows are the watched workflow files ("deploy-prod.yml"); deliveries about
	// other workflows are answered 202 and ignored. Empty watches none.
	Workflows []string
	// RunFacts returns what never changes about a run (its workflow file, event, head
	// repository, branch and commit), for workflow_job deliveries, which say neither
	// the workflow's file nor what started the run ((*Client).RunFacts, which caches).
	// nil ignores every workflow_job delivery.
	RunFacts func(ctx context.Context, runID int64) (recovery.Run, error)
	// Learn, when set, is told every run a workflow_run delivery describes
	// ((*Client).RememberRun), so the job deliveries that follow (GitHub sends
	// workflow_run requested first) need no lookup.
	Learn func(run recovery.Run)
	// Logger receives one line per refused or ignored delivery; nil logs nothing.
	Logger *zap.Logger
	// Now stamps signals; default time.Now.
	Now func() time.Time
	// MaxBody caps the body in bytes; default DefaultWebhookMaxBody.
	MaxBody int64
	// MaxInFlight caps the deliveries read at once; default DefaultWebhookInFlight. The
	// memory a flood of unsigned bodies can take is at most MaxInFlight × MaxBody.
	MaxInFlight int
	// BodyTimeout is how long a delivery holding one of those places may take to send
	// its body; default DefaultWebhookBodyTimeout. A client trickling bytes cannot keep
	// a place for the server's whole read timeout.
	BodyTimeout time.Duration
}

// DefaultWebhookBodyTimeout is enough for GitHub to send a full-size body (1 MiB at
// 200 KiB/s).
const DefaultWebhookBodyTimeout = 5 * time.Second

// Webhook receives GitHub's workflow_run and workflow_job deliveries (POST
// /webhooks/github), verifies their signature and turns them into recovery signals.
// It is safe for concurrent use.
type Webhook struct {
	o        WebhookOptions
	log      *zap.Logger
	inFlight chan struct{}
}

// NewWebhook returns a Webhook configured by o.
func NewWebhook(o WebhookOptions) *Webhook {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultWebhookMaxBody
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultWebhookInFlight
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = DefaultWebhookBodyTimeout
	}
	o.Workflows = slices.Clone(o.Workflows)
	return &Webhook{o: o, log: o.Logger.Named("github-webhook"), inFlight: make(chan struct{}, o.MaxInFlight)}
}

// reply is the answer to one delivery.
type reply struct {
	status int
	text   string
}

// ServeHTTP answers one delivery:
//
//   - 405 for a method other than POST;
//   - 503 when no secret is configured (or no Sink);
//   - 401 for a missing or bad X-Hub-Signature-256;
//   - 413 for a body over MaxBody; 400 for a body that is not the event's JSON;
//   - 200 for ping, and for a delivery already processed ("duplicate delivery");
//   - 204 for other events, which medic ignores;
//   - 202 for workflow_run and workflow_job, whether a signal was emitted or not.
func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.log.With(zap.String("delivery", r.Header.Get(gh.DeliveryIDHeader)),
		zap.String("event", r.Header.Get(gh.EventTypeHeader)), zap.String("remote", r.RemoteAddr))
	rep := func() (rep reply) {
		defer func() {
			if p := recover(); p != nil {
				log.Error("panic handling webhook delivery", zap.Any("panic", p), zap.Stack("stack"))
				rep = reply{http.StatusInternalServerError, "internal error"}
			}
		}()
		return h.serve(r, w, log)
	}()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(rep.status)
	if rep.status != http.StatusNoContent {
		_, _ = io.WriteString(w, rep.text+"\n")
	}
}

func (h *Webhook) serve(r *http.Request, w http.ResponseWriter, log *zap.Logger) reply {
	if rep := h.refuse(r, log); rep != nil {
		return *rep
	}
	select {
	case h.inFlight <- struct{}{}:
		defer func() { <-h.inFlight }()
		// The place is held while the body comes: only briefly.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.o.BodyTimeout))
	default:
		log.Warn("too many webhook deliveries at once: refusing one", zap.Int("in_flight", h.o.MaxInFlight))
		return reply{http.StatusServiceUnavailable, "too many deliveries at once; redeliver later"}
	}
	payload, rep := h.readPayload(r, w, log)
	if rep != nil {
		return *rep
	}
	return h.dispatch(r, payload, log)
}

// refuse answers a delivery that is refused before a byte of its body is read (and
// before it takes a place among the deliveries in flight); nil lets it in.
func (h *Webhook) refuse(r *http.Request, log *zap.Logger) *reply {
	if r.Method != http.MethodPost {
		return &reply{http.StatusMethodNotAllowed, "method not allowed"}
	}
	if h.o.Secret == "" {
		log.Error("webhook secret not configured: refusing delivery")
		return &reply{http.StatusServiceUnavailable, "webhook secret not configured"}
	}
	// The declared length is checked before a byte of the body is read; the cap holds
	// while reading too (a body longer than it declared, or chunked).
	if r.ContentLength > h.o.MaxBody {
		log.Warn("webhook body too large", zap.Int64("declared", r.ContentLength), zap.Int64("limit", h.o.MaxBody))
		return &reply{http.StatusRequestEntityTooLarge, "body too large"}
	}
	return nil
}

// readPayload reads the body under MaxBody, checks its signature and returns the
// event's JSON; or the answer to a delivery whose body is refused.
func (h *Webhook) readPayload(r *http.Request, w http.ResponseWriter, log *zap.Logger) ([]byte, *reply) {
	// Only SHA-256: go-github falls back to the SHA-1 X-Hub-Signature when this header
	// is absent, which medic does not accept.
	sig := r.Header.Get(gh.SHA256SignatureHeader)
	if sig == "" {
		log.Warn("webhook delivery without X-Hub-Signature-256")
		return nil, &reply{http.StatusUnauthorized, "missing signature"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.o.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			log.Warn("webhook body too large", zap.Int64("limit", h.o.MaxBody))
			return nil, &reply{http.StatusRequestEntityTooLarge, "body too large"}
		}
		log.Warn("reading webhook body", zap.Error(err))
		return nil, &reply{http.StatusBadRequest, "cannot read body"}
	}
	if err := gh.ValidateSignature(sig, body, []byte(h.o.Secret)); err != nil {
		log.Warn("webhook signature refused", zap.Error(err))
		return nil, &reply{http.StatusUnauthorized, "bad signature"}
	}
	// The signature covers the raw body; the JSON is the body itself or, for hooks
	// configured with the form content type, its payload= field.
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	payload, err := gh.ValidatePayloadFromBody(ct, bytes.NewReader(body), sig, []byte(h.o.Secret))
	if err != nil {
		log.Warn("webhook payload unreadable", zap.Error(err))
		return nil, &reply{http.StatusBadRequest, "unreadable payload"}
	}
	return payload, nil
}

// dispatch parses a signed delivery's payload and emits its signal, if it has one.
func (h *Webhook) dispatch(r *http.Request, payload []byte, log *zap.Logger) reply {
	event := gh.WebHookType(r)
	switch event {
	case "ping", "workflow_run", "workflow_job":
	default:
		log.Debug("webhook event ignored")
		return reply{http.StatusNoContent, ""}
	}
	parsed, err := gh.ParseWebHook(event, payload)
	if err != nil {
		log.Warn("malformed webhook payload", zap.Error(err))
		return reply{http.StatusBadRequest, "malformed payload"}
	}
	ctx := r.Context()
	if _, ping := parsed.(*gh.PingEvent); ping {
		return reply{http.StatusOK, "pong"} // an app's ping names no repository
	}
	if ev, ok := parsed.(interface{ GetRepo() *gh.Repository }); ok && h.o.Repository != "" &&
		!strings.EqualFold(ev.GetRepo().GetFullName(), h.o.Repository) {
		log.Info("webhook delivery for another repository ignored", zap.String("repository", ev.GetRepo().GetFullName()))
		return reply{http.StatusAccepted, "ignored: another repository"}
	}
	var signal *recovery.Signal
	var rep reply
	switch ev := parsed.(type) {
	case *gh.WorkflowRunEvent:
		signal, rep = h.runSignal(ev, log)
	case *gh.WorkflowJobEvent:
		signal, rep = h.jobSignal(ctx, ev, log)
	default:
		return reply{http.StatusBadRequest, "unexpected payload"}
	}
	if signal == nil {
		return rep
	}
	return h.emit(ctx, r, *signal, log)
}

// runSignal turns a workflow_run delivery into a signal, or says why there is none.
func (h *Webhook) runSignal(ev *gh.WorkflowRunEvent, log *zap.Logger) (*recovery.Signal, reply) {
	run := RunFromGitHub(ev.GetWorkflowRun())
	if run.Workflow == "" {
		run.Workflow = WorkflowFile(ev.GetWorkflow().GetPath())
	}
	if run.WorkflowName == "" {
		run.WorkflowName = ev.GetWorkflow().GetName()
	}
	if h.o.Learn != nil && run.ID != 0 {
		h.o.Learn(run)
	}
	if ev.GetAction() != "completed" {
		return nil, reply{http.StatusAccepted, "ignored: action " + ev.GetAction()}
	}
	if run.ID == 0 {
		return nil, reply{http.StatusBadRequest, "workflow_run without id"}
	}
	if !h.watched(run.Workflow) {
		log.Info("workflow not watched", zap.String("workflow", run.Workflow), zap.Int64("run", run.ID))
		return nil, reply{http.StatusAccepted, "workflow not watched"}
	}
	return &recovery.Signal{Kind: recovery.SignalRunCompleted, Via: "webhook", Run: &run}, reply{}
}

// jobSignal turns a workflow_job delivery into a signal, or says why there is none.
func (h *Webhook) jobSignal(ctx context.Context, ev *gh.WorkflowJobEvent, log *zap.Logger) (*recovery.Signal, reply) {
	var kind recovery.SignalKind
	switch ev.GetAction() {
	case "completed":
		kind = recovery.SignalJobCompleted
	case "in_progress":
		kind = recovery.SignalJobStarted
	default:
		return nil, reply{http.StatusAccepted, "ignored: action " + ev.GetAction()}
	}
	j := ev.GetWorkflowJob()
	job := JobFromGitHub(j)
	if job.ID == 0 || job.RunID == 0 {
		return nil, reply{http.StatusBadRequest, "workflow_job without id or run_id"}
	}
	if h.o.RunFacts == nil {
		log.Info("workflow not watched: no run lookup configured", zap.Int64("run", job.RunID))
		return nil, reply{http.StatusAccepted, "workflow not watched"}
	}
	facts, err := h.o.RunFacts(ctx, job.RunID)
	if err != nil {
		// The poller finds the run later; GitHub does not retry by itself.
		log.Warn("looking up the workflow of a job's run", zap.Int64("run", job.RunID), zap.Error(err))
		return nil, reply{http.StatusServiceUnavailable, "cannot look up the run's workflow"}
	}
	if !h.watched(facts.Workflow) {
		log.Info("workflow not watched", zap.String("workflow", facts.Workflow), zap.Int64("run", job.RunID))
		return nil, reply{http.StatusAccepted, "workflow not watched"}
	}
	// What started the run and where its code came from are the run's (from GitHub's
	// API or a signed workflow_run delivery), never read from the job.
	run := recovery.Run{
		ID:             job.RunID,
		Attempt:        job.Attempt,
		Workflow:       facts.Workflow,
		WorkflowName:   j.GetWorkflowName(),
		HeadSHA:        orString(facts.HeadSHA, j.GetHeadSHA()),
		HeadBranch:     orString(facts.HeadBranch, j.GetHeadBranch()),
		HeadRepository: facts.HeadRepository,
		Event:          facts.Event,
		URL:            runURL(ev.GetRepo().GetHTMLURL(), job.RunID),
	}
	return &recovery.Signal{Kind: kind, Via: "webhook", Run: &run, Job: &job}, reply{}
}

func orString(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// runURL is a run's page on GitHub, from the repository's page.
func runURL(repoHTML string, runID int64) string {
	if repoHTML == "" {
		return ""
	}
	return fmt.Sprintf("%s/actions/runs/%d", strings.TrimSuffix(repoHTML, "/"), runID)
}

func (h *Webhook) watched(file string) bool {
	return file != "" && slices.Contains(h.o.Workflows, file)
}

// emit claims the delivery and hands the signal to Sink.
func (h *Webhook) emit(ctx context.Context, r *http.Request, s recovery.Signal, log *zap.Logger) reply {
	if h.o.Sink == nil {
		log.Error("webhook sink not configured: dropping signal", zap.String("kind", string(s.Kind)))
		return reply{http.StatusServiceUnavailable, "webhook sink not configured"}
	}
	id := gh.DeliveryID(r)
	switch {
	case h.o.Claim == nil:
	case id == "":
		log.Warn("webhook delivery without X-GitHub-Delivery: cannot deduplicate")
	default:
		first, err := h.o.Claim(ctx, "github-delivery:"+id)
		if err != nil {
			log.Error("claiming webhook delivery; processing it anyway", zap.Error(err))
		} else if !first {
			log.Info("duplicate webhook delivery")
			return reply{http.StatusOK, "duplicate delivery"}
		}
	}
	s.At = h.o.Now()
	if !h.o.Sink(ctx, s) {
		log.Error("medic could not queue the delivery's signal; answering 503 (redeliver it, or the poller reports it)", zap.String("signal", s.Key()))
		if id != "" && h.o.Claim != nil && h.o.Unclaim != nil {
			if err := h.o.Unclaim(context.WithoutCancel(ctx), "github-delivery:"+id); err != nil {
				log.Warn("releasing the delivery's claim", zap.Error(err))
			}
		}
		return reply{http.StatusServiceUnavailable, "medic is overloaded: redeliver later"}
	}
	return reply{http.StatusAccepted, "accepted"}
}
