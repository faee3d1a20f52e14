package githubfake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"time"

	"github.com/google/go-github/v66/github"
	"github.com/google/uuid"
)

// Delivery is one webhook POST the fake made.
type Delivery struct {
	// ID is the X-GitHub-Delivery GUID; a redelivery repeats it.
	ID    string
	Event string
	URL   string
	Body  []byte
	// Status is the receiver's HTTP status, 0 when the request failed.
	Status     int
	Redelivery bool
}

// Webhook limits (docs.github.com/webhooks/webhook-events-and-payloads and
// docs.github.com/webhooks/using-webhooks/best-practices-for-using-webhooks): GitHub caps
// payloads at 25 MB and drops the connection when the receiver takes more than 10 s.
const (
	maxWebhookPayload = 25 << 20
	webhookTimeout    = 10 * time.Second
)

// Deliver POSTs payload (a value marshalled to JSON, or raw JSON as []byte or
// json.RawMessage) to url as GitHub-Hookshot does: X-GitHub-Event, a fresh
// X-GitHub-Delivery GUID, X-GitHub-Hook-ID, and, when secret is set, X-Hub-Signature-256
// (HMAC-SHA256 of the raw body) and X-Hub-Signature (HMAC-SHA1). It returns the delivery
// ID and the receiver's status; err reports only a payload or transport failure.
func (s *Server) Deliver(ctx context.Context, url, secret, event string, payload any) (deliveryID string, status int, err error) {
	var body []byte
	switch p := payload.(type) {
	case []byte:
		body = p
	case json.RawMessage:
		body = p
	default:
		if body, err = json.Marshal(payload); err != nil {
			return "", 0, fmt.Errorf("encoding %s payload: %w", event, err)
		}
	}
	if len(body) > maxWebhookPayload {
		return "", 0, fmt.Errorf("delivering %s: payload of %d bytes exceeds GitHub's 25 MB cap", event, len(body))
	}
	d := &Delivery{ID: uuid.NewString(), Event: event, URL: url, Body: body}
	status, err = s.post(ctx, d, secret)
	return d.ID, status, err
}

// Redeliver sends delivery deliveryID again to url with the same body and the same
// X-GitHub-Delivery, signed with secret, as the "Redeliver" button does.
func (s *Server) Redeliver(ctx context.Context, url, secret, deliveryID string) (status int, err error) {
	s.mu.Lock()
	var orig *Delivery
	for _, d := range s.w.deliveries {
		if d.ID == deliveryID {
			orig = d
			break
		}
	}
	s.mu.Unlock()
	if orig == nil {
		return 0, fmt.Errorf("redelivering %s: no such delivery", deliveryID)
	}
	d := &Delivery{ID: orig.ID, Event: orig.Event, URL: url, Body: orig.Body, Redelivery: true}
	return s.post(ctx, d, secret)
}

// Deliveries returns every delivery made so far, in order.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Delivery, len(s.w.deliveries))
	for i, d := range s.w.deliveries {
		out[i] = *d
	}
	return out
}

func (s *Server) post(ctx context.Context, d *Delivery, secret string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, webhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return 0, fmt.Errorf("delivering %s: %w", d.Event, err)
	}
	hookID := stableID("hook", s.owner+"/"+s.repo)
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "GitHub-Hookshot/6f4cd0b")
	h.Set("Accept", "*/*")
	h.Set("X-GitHub-Event", d.Event)
	h.Set("X-GitHub-Delivery", d.ID)
	h.Set("X-GitHub-Hook-ID", fmt.Sprint(hookID))
	h.Set("X-GitHub-Hook-Installation-Target-Type", "repository")
	h.Set("X-GitHub-Hook-Installation-Target-ID", fmt.Sprint(stableID("repo", s.owner+"/"+s.repo)))
	if secret != "" {
		h.Set("X-Hub-Signature", "sha1="+hexHMAC(sha1.New, secret, d.Body))
		h.Set("X-Hub-Signature-256", "sha256="+hexHMAC(sha256.New, secret, d.Body))
	}
	defer func() {
		s.mu.Lock()
		s.w.deliveries = append(s.w.deliveries, d)
		s.mu.Unlock()
	}()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return 0, fmt.Errorf("delivering %s: receiver took longer than GitHub's %s: %w", d.Event, webhookTimeout, err)
		}
		return 0, fmt.Errorf("delivering %s: %w", d.Event, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	d.Status = resp.StatusCode
	return resp.StatusCode, nil
}

func hexHMAC(h func() hash.Hash, secret string, body []byte) string {
	m := hmac.New(h, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// RunEvent builds the workflow_run webhook payload ("requested", "in_progress" or
// "completed") for run runID from the fake's current state.
func (s *Server) RunEvent(runID int64, action string) (*github.WorkflowRunEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.w.runs[runID]
	if !ok {
		return nil, fmt.Errorf("building workflow_run event: no run %d", runID)
	}
	return &github.WorkflowRunEvent{
		Action:      github.String(action),
		Workflow:    s.workflowDoc(s.w.workflows[rec.workflowID]),
		WorkflowRun: s.runDoc(rec),
		Org:         s.orgDoc(),
		Repo:        s.repoDoc(),
		Sender:      s.userDoc(rec.run.Actor),
	}, nil
}

// JobEvent builds the workflow_job webhook payload ("queued", "in_progress", "completed"
// or "waiting") for job jobID from the fake's current state.
func (s *Server) JobEvent(jobID int64, action string) (*github.WorkflowJobEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.w.jobs[jobID]
	if !ok {
		return nil, fmt.Errorf("building workflow_job event: no job %d", jobID)
	}
	return &github.WorkflowJobEvent{
		Action:      github.String(action),
		WorkflowJob: s.jobDoc(j),
		Org:         s.orgDoc(),
		Repo:        s.repoDoc(),
		Sender:      s.userDoc(s.w.runs[j.RunID].run.Actor),
	}, nil
}
