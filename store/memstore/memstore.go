// Package memstore keeps medic's state in memory: every store interface package
// recovery declares, with the semantics of store.Store (SQLite and PostgreSQL), and
// held to the same conformance suite (store/storetest). It is for fast tests of the
// rules that use a store; nothing survives the process.
//
// It follows the SQL store row by row: each value is kept as the columns the SQL store
// filters and sorts on (times in Unix milliseconds, as there) and the JSON document it
// stores, redacted the same way. Values go in and come out as copies, so a caller
// changing an incident it read (its slices and maps included) changes nothing stored.
package memstore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/medic-ops/medic/recovery"
)

var (
	_ recovery.WorkClaimer     = (*Store)(nil)
	_ recovery.IncidentStore   = (*Store)(nil)
	_ recovery.SourceIndex     = (*Store)(nil)
	_ recovery.RequestExpiry   = (*Store)(nil)
	_ recovery.EnvSlots        = (*Store)(nil)
	_ recovery.EscalationQueue = (*Store)(nil)
	_ recovery.IncidentReader  = (*Store)(nil)
	_ recovery.Auditor         = (*Store)(nil)
	_ recovery.AuditReader     = (*Store)(nil)
	_ recovery.IncidentLister  = (*Store)(nil)
	_ recovery.PageStore       = (*Store)(nil)
	_ recovery.RequestStore    = (*Store)(nil)
	_ recovery.JobStore        = (*Store)(nil)
	_ recovery.JobReader       = (*Store)(nil)
	_ recovery.CursorStore     = (*Store)(nil)
	_ recovery.PlanStore       = (*Store)(nil)
)

// Store is medic's state in memory. It is safe for concurrent use: one mutex makes
// each call atomic, as one statement or transaction is in the SQL store. Several
// replicas of medic in one test share one Store.
type Store struct {
	now func() time.Time

	mu        sync.Mutex
	incidents map[string]*incidentRow
	// sources maps each source key an incident owns while open to that incident
	// (store's incident_sources rows with open = 1).
	sources  map[string]string
	pages    map[string]*pageRow
	jobs     map[string]*jobRow
	envLocks map[string]string
	requests map[string]*requestRow
	audit    []auditRow
	claims   map[string]int64
	work     map[string]*workRow
	cursors  map[string]int64
	leases   map[string]leaseRow
	plans    map[string]planRow
}

// New returns an empty Store reading the clock now (time.Now when nil): claims, work
// leases, env locks, leases, plans and audit entries without a time are stamped with it.
func New(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{
		now:       now,
		incidents: map[string]*incidentRow{},
		sources:   map[string]string{},
		pages:     map[string]*pageRow{},
		jobs:      map[string]*jobRow{},
		envLocks:  map[string]string{},
		requests:  map[string]*requestRow{},
		claims:    map[string]int64{},
		work:      map[string]*workRow{},
		cursors:   map[string]int64{},
		leases:    map[string]leaseRow{},
		plans:     map[string]planRow{},
	}
}

// The rows: what the SQL store's columns hold, and data, its JSON document.

type incidentRow struct {
	id, env, title, sourceKey, channel, messageTS string
	scenario                                      recovery.ScenarioID
	status                                        recovery.IncidentStatus
	severity                                      recovery.Severity
	openedAt, updatedAt, escalateAt               int64
	version                                       int
	data                                          []byte
}

type pageRow struct {
	id, incidentID    string
	state             recovery.PageState
	nextAt, createdAt int64
	data              []byte
}

type jobRow struct {
	id, env, requestID    string
	state                 recovery.JobState
	leaseUntil, createdAt int64
	version               int
	data                  []byte
}

type requestRow struct {
	id, dedupeKey        string
	state                recovery.RequestState
	expiresAt, createdAt int64
	version              int
	data                 []byte
}

type auditRow struct {
	at                                    int64
	actor, action, env, incidentID, jobID string
	detail                                []byte
}

type workRow struct {
	done                  bool
	leaseUntil, updatedAt int64
}

type leaseRow struct {
	holder    string
	expiresAt int64
}

type planRow struct {
	data      []byte
	createdAt int64
}

// live fails with ctx's error once ctx is done, as every call of the SQL store does
// (database/sql checks the context before it takes a connection).
func live(ctx context.Context, what string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Claim records key and reports whether this call was the first to claim it.
func (s *Store) Claim(ctx context.Context, key string) (bool, error) {
	if err := live(ctx, "claiming "+key); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.claims[key]; ok {
		return false, nil
	}
	s.claims[key] = ms(s.now())
	return true, nil
}

// Unclaim forgets a claim, so the key can be claimed again.
func (s *Store) Unclaim(ctx context.Context, key string) error {
	if err := live(ctx, "releasing "+key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.claims, key)
	return nil
}

// PurgeClaims forgets claims made before t and reports how many were removed.
func (s *Store) PurgeClaims(ctx context.Context, before time.Time) (int64, error) {
	if err := live(ctx, "purging claims"); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for k, at := range s.claims {
		if at < ms(before) {
			delete(s.claims, k)
			n++
		}
	}
	return n, nil
}

// ClaimWork claims key for lease: true when nobody finished it and nobody holds an
// unexpired lease (one that runs out at or after now).
func (s *Store) ClaimWork(ctx context.Context, key string, lease time.Duration) (bool, error) {
	if err := live(ctx, "claiming "+key); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if w, ok := s.work[key]; ok && (w.done || w.leaseUntil >= ms(now)) {
		return false, nil
	}
	s.work[key] = &workRow{leaseUntil: ms(now.Add(lease)), updatedAt: ms(now)}
	return true, nil
}

// CompleteWork marks claimed work done for good.
func (s *Store) CompleteWork(ctx context.Context, key string) error {
	if err := live(ctx, "completing "+key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.work[key]; ok {
		w.done, w.updatedAt = true, ms(s.now())
	}
	return nil
}

// ReleaseWork gives claimed (not done) work up so it can be claimed again.
func (s *Store) ReleaseWork(ctx context.Context, key string) error {
	if err := live(ctx, "releasing "+key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.work[key]; ok && !w.done {
		delete(s.work, key)
	}
	return nil
}

// PurgeWork forgets work finished before t and reports how many were removed.
func (s *Store) PurgeWork(ctx context.Context, before time.Time) (int64, error) {
	if err := live(ctx, "purging finished work"); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for k, w := range s.work {
		if w.done && w.updatedAt < ms(before) {
			delete(s.work, k)
			n++
		}
	}
	return n, nil
}

// CreateIncident stores a new incident owning its SourceKey (Version 1 when 0). When
// an open incident already owns the source it fails with an error wrapping
// recovery.ErrDuplicate; an incident whose ID is taken is refused with another error,
// as by the SQL store.
func (s *Store) CreateIncident(ctx context.Context, in recovery.Incident) error {
	if err := live(ctx, "creating incident "+in.ID); err != nil {
		return err
	}
	if in.Version == 0 {
		in.Version = 1
	}
	data, err := encode(in)
	if err != nil {
		return fmt.Errorf("encoding incident %s: %w", in.ID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.sources[in.SourceKey]; taken {
		return fmt.Errorf("creating incident for %s: %w", in.SourceKey, recovery.ErrDuplicate)
	}
	if _, taken := s.incidents[in.ID]; taken {
		return fmt.Errorf("creating incident %s: %w", in.ID, recovery.ErrIDTaken)
	}
	s.sources[in.SourceKey] = in.ID
	s.incidents[in.ID] = &incidentRow{id: in.ID, env: in.Env, scenario: in.Scenario, severity: in.Severity, status: in.Status,
		title: recovery.Redact(in.Title), sourceKey: in.SourceKey, openedAt: ms(in.OpenedAt), updatedAt: ms(in.UpdatedAt),
		channel: in.Channel, messageTS: in.MessageTS, version: in.Version, data: data, escalateAt: escalateAt(in)}
	return nil
}

// UpdateIncident saves in when its Version is the stored one and returns it with the
// next Version; otherwise it fails with recovery.ErrConflict (or ErrNotFound). A
// resolved incident gives up its sources. As in the SQL store, an incident's ID,
// SourceKey and OpenedAt are those it was created with.
func (s *Store) UpdateIncident(ctx context.Context, in recovery.Incident) (recovery.Incident, error) {
	if err := live(ctx, "updating incident "+in.ID); err != nil {
		return recovery.Incident{}, err
	}
	prev := in.Version
	in.Version++
	data, err := encode(in)
	if err != nil {
		return recovery.Incident{}, fmt.Errorf("encoding incident %s: %w", in.ID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	row, ok := s.incidents[in.ID]
	if !ok {
		return recovery.Incident{}, fmt.Errorf("updating incident %s: %w", in.ID, recovery.ErrNotFound)
	}
	if row.version != prev {
		return recovery.Incident{}, fmt.Errorf("updating incident %s (version %d, stored %d): %w", in.ID, prev, row.version, recovery.ErrConflict)
	}
	row.env, row.scenario, row.severity, row.status, row.title = in.Env, in.Scenario, in.Severity, in.Status, recovery.Redact(in.Title)
	row.updatedAt, row.channel, row.messageTS, row.version, row.data, row.escalateAt =
		ms(in.UpdatedAt), in.Channel, in.MessageTS, in.Version, data, escalateAt(in)
	if in.Status == recovery.IncidentResolved {
		for source, id := range s.sources {
			if id == in.ID {
				delete(s.sources, source)
			}
		}
	}
	return in, nil
}

// escalateAt is when in's escalation is due in Unix milliseconds, 0 for never.
func escalateAt(in recovery.Incident) int64 {
	if in.Status == recovery.IncidentResolved {
		return 0
	}
	return ms(in.Escalation.DueAt)
}

// AttachSource makes source belong to an open incident too; recovery.ErrDuplicate
// when an open incident already owns it (incidentID itself included).
func (s *Store) AttachSource(ctx context.Context, incidentID, source string) error {
	if err := live(ctx, fmt.Sprintf("attaching %s to %s", source, incidentID)); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.sources[source]; taken {
		return fmt.Errorf("attaching %s to %s: %w", source, incidentID, recovery.ErrDuplicate)
	}
	s.sources[source] = incidentID
	return nil
}

// Incident returns one incident, or an error wrapping recovery.ErrNotFound.
func (s *Store) Incident(ctx context.Context, id string) (recovery.Incident, error) {
	if err := live(ctx, "reading incident "+id); err != nil {
		return recovery.Incident{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	row, ok := s.incidents[id]
	if !ok {
		return recovery.Incident{}, fmt.Errorf("incident %s: %w", id, recovery.ErrNotFound)
	}
	return row.incident()
}

// OpenIncidentBySource returns the open incident owning source, or an error wrapping
// recovery.ErrNotFound.
func (s *Store) OpenIncidentBySource(ctx context.Context, source string) (recovery.Incident, error) {
	if err := live(ctx, "reading the incident for "+source); err != nil {
		return recovery.Incident{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	row, ok := s.incidents[s.sources[source]]
	if _, open := s.sources[source]; !open || !ok {
		return recovery.Incident{}, fmt.Errorf("incident for %s: %w", source, recovery.ErrNotFound)
	}
	return row.incident()
}

// OpenIncidents lists the environment's incidents that are not resolved, most severe
// first, then newest.
func (s *Store) OpenIncidents(ctx context.Context, env string) ([]recovery.Incident, error) {
	return s.listIncidents(ctx, "open incidents of "+env,
		func(r *incidentRow) bool { return r.env == env && r.status != recovery.IncidentResolved },
		func(a, b *incidentRow) int {
			return cmp.Or(cmp.Compare(b.severity, a.severity), cmp.Compare(b.openedAt, a.openedAt), strings.Compare(a.id, b.id))
		}, noLimit)
}

// DueEscalations lists the unresolved incidents whose escalation is due at t, the
// earliest deadline first.
func (s *Store) DueEscalations(ctx context.Context, t time.Time) ([]recovery.Incident, error) {
	return s.listIncidents(ctx, "due escalations",
		func(r *incidentRow) bool {
			return r.escalateAt > 0 && r.escalateAt <= ms(t) && r.status != recovery.IncidentResolved
		},
		func(a, b *incidentRow) int {
			return cmp.Or(cmp.Compare(a.escalateAt, b.escalateAt), strings.Compare(a.id, b.id))
		}, noLimit)
}

// RecentIncidents lists the incidents open now or opened since, most severe and
// newest first, at most limit (all of them when limit is negative, as SQLite does).
func (s *Store) RecentIncidents(ctx context.Context, since time.Time, limit int) ([]recovery.Incident, error) {
	return s.listIncidents(ctx, "recent incidents",
		func(r *incidentRow) bool { return r.status != recovery.IncidentResolved || r.openedAt >= ms(since) },
		func(a, b *incidentRow) int {
			return cmp.Or(cmp.Compare(resolvedLast(a), resolvedLast(b)),
				cmp.Compare(b.severity, a.severity), cmp.Compare(b.openedAt, a.openedAt), strings.Compare(a.id, b.id))
		}, limit)
}

func (s *Store) listIncidents(ctx context.Context, what string, keep func(*incidentRow) bool, order func(a, b *incidentRow) int, limit int) ([]recovery.Incident, error) {
	if err := live(ctx, "listing "+what); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var rows []*incidentRow
	for _, r := range s.incidents {
		if keep(r) {
			rows = append(rows, r)
		}
	}
	slices.SortFunc(rows, order)
	var out []recovery.Incident
	for _, r := range limited(rows, limit) {
		in, err := r.incident()
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", what, err)
		}
		out = append(out, in)
	}
	return out, nil
}

// incident decodes the row's document; the columns are authoritative, as in the SQL
// store.
func (r *incidentRow) incident() (recovery.Incident, error) {
	var in recovery.Incident
	if err := json.Unmarshal(r.data, &in); err != nil {
		return recovery.Incident{}, fmt.Errorf("decoding incident %s: %w", r.id, err)
	}
	in.ID, in.Env, in.Scenario, in.Severity = r.id, r.env, r.scenario, r.severity
	in.Status, in.Title, in.SourceKey = r.status, r.title, r.sourceKey
	in.OpenedAt, in.UpdatedAt, in.Channel, in.MessageTS, in.Version = fromMS(r.openedAt), fromMS(r.updatedAt), r.channel, r.messageTS, r.version
	return in, nil
}

// AddPage stores a new page; recovery.ErrDuplicate (wrapped) when its ID exists.
func (s *Store) AddPage(ctx context.Context, p recovery.Page) error {
	if err := live(ctx, "storing page "+p.ID); err != nil {
		return err
	}
	data, err := encode(p)
	if err != nil {
		return fmt.Errorf("encoding page %s: %w", p.ID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pages[p.ID]; ok {
		return fmt.Errorf("page %s: %w", p.ID, recovery.ErrDuplicate)
	}
	s.pages[p.ID] = &pageRow{id: p.ID, incidentID: p.IncidentID, state: p.State, nextAt: ms(p.NextAt), createdAt: ms(p.CreatedAt), data: data}
	return nil
}

// UpdatePage saves a page's delivery state. Sent and failed are final: a page stored
// in either is left alone and UpdatePage fails with recovery.ErrConflict.
// recovery.ErrNotFound when there is no such page.
func (s *Store) UpdatePage(ctx context.Context, p recovery.Page) error {
	if err := live(ctx, "saving page "+p.ID); err != nil {
		return err
	}
	data, err := encode(p)
	if err != nil {
		return fmt.Errorf("encoding page %s: %w", p.ID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	row, ok := s.pages[p.ID]
	if !ok {
		return fmt.Errorf("page %s: %w", p.ID, recovery.ErrNotFound)
	}
	if row.state != recovery.PagePending {
		return fmt.Errorf("saving page %s as %s: it is %s already: %w", p.ID, p.State, row.state, recovery.ErrConflict)
	}
	row.state, row.nextAt, row.data = p.State, ms(p.NextAt), data
	return nil
}

// DuePages lists the pending pages due at t, soonest first, at most limit (all of them
// when limit is negative).
func (s *Store) DuePages(ctx context.Context, t time.Time, limit int) ([]recovery.Page, error) {
	return s.listPages(ctx,
		func(r *pageRow) bool { return r.state == recovery.PagePending && r.nextAt <= ms(t) },
		func(a, b *pageRow) int { return cmp.Or(cmp.Compare(a.nextAt, b.nextAt), strings.Compare(a.id, b.id)) }, limit)
}

// PagesOf lists an incident's pages, oldest first.
func (s *Store) PagesOf(ctx context.Context, incidentID string) ([]recovery.Page, error) {
	return s.listPages(ctx,
		func(r *pageRow) bool { return r.incidentID == incidentID },
		func(a, b *pageRow) int {
			return cmp.Or(cmp.Compare(a.createdAt, b.createdAt), strings.Compare(a.id, b.id))
		}, noLimit)
}

func (s *Store) listPages(ctx context.Context, keep func(*pageRow) bool, order func(a, b *pageRow) int, limit int) ([]recovery.Page, error) {
	if err := live(ctx, "listing pages"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var rows []*pageRow
	for _, r := range s.pages {
		if keep(r) {
			rows = append(rows, r)
		}
	}
	slices.SortFunc(rows, order)
	var out []recovery.Page
	for _, r := range limited(rows, limit) {
		var p recovery.Page
		if err := json.Unmarshal(r.data, &p); err != nil {
			return nil, fmt.Errorf("listing pages: decoding page: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// CreateJob stores a new job (Version 1 when 0); recovery.ErrDuplicate when its
// request already has one, or its ID is taken.
func (s *Store) CreateJob(ctx context.Context, j recovery.Job) error {
	if err := live(ctx, "creating job "+j.ID); err != nil {
		return err
	}
	if j.Version == 0 {
		j.Version = 1
	}
	data, err := encode(j)
	if err != nil {
		return fmt.Errorf("encoding job %s: %w", j.ID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, taken := s.jobs[j.ID]
	for _, r := range s.jobs {
		taken = taken || r.requestID == j.RequestID
	}
	if taken {
		return fmt.Errorf("creating job for request %s: %w", j.RequestID, recovery.ErrDuplicate)
	}
	s.jobs[j.ID] = &jobRow{id: j.ID, env: j.Env, requestID: j.RequestID, state: j.State, leaseUntil: ms(j.LeaseUntil),
		createdAt: ms(j.CreatedAt), version: j.Version, data: data}
	return nil
}

// UpdateJob saves j when its Version is the stored one and returns it with the next
// Version; recovery.ErrConflict otherwise (a job never created too). Its Env and
// RequestID stay those it was created with where jobs are looked up.
func (s *Store) UpdateJob(ctx context.Context, j recovery.Job) (recovery.Job, error) {
	if err := live(ctx, "updating job "+j.ID); err != nil {
		return recovery.Job{}, err
	}
	prev := j.Version
	j.Version++
	data, err := encode(j)
	if err != nil {
		return recovery.Job{}, fmt.Errorf("encoding job %s: %w", j.ID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	row, ok := s.jobs[j.ID]
	if !ok || row.version != prev {
		return recovery.Job{}, fmt.Errorf("updating job %s (version %d): %w", j.ID, prev, recovery.ErrConflict)
	}
	row.state, row.leaseUntil, row.version, row.data = j.State, ms(j.LeaseUntil), j.Version, data
	return j, nil
}

// Job returns one job, or an error wrapping recovery.ErrNotFound.
func (s *Store) Job(ctx context.Context, id string) (recovery.Job, error) {
	jobs, err := s.listJobs(ctx, func(r *jobRow) bool { return r.id == id })
	if err != nil {
		return recovery.Job{}, err
	}
	if len(jobs) == 0 {
		return recovery.Job{}, fmt.Errorf("job %s: %w", id, recovery.ErrNotFound)
	}
	return jobs[0], nil
}

// RunningJobs lists the environment's jobs that are pending or running, oldest first.
func (s *Store) RunningJobs(ctx context.Context, env string) ([]recovery.Job, error) {
	return s.listJobs(ctx, func(r *jobRow) bool { return r.env == env && active(r.state) })
}

// StaleJobs lists pending or running jobs whose owner's lease ran out before t,
// oldest first.
func (s *Store) StaleJobs(ctx context.Context, t time.Time) ([]recovery.Job, error) {
	return s.listJobs(ctx, func(r *jobRow) bool { return active(r.state) && r.leaseUntil < ms(t) })
}

func active(st recovery.JobState) bool { return st == recovery.JobPending || st == recovery.JobRunning }

func (s *Store) listJobs(ctx context.Context, keep func(*jobRow) bool) ([]recovery.Job, error) {
	if err := live(ctx, "listing jobs"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var rows []*jobRow
	for _, r := range s.jobs {
		if keep(r) {
			rows = append(rows, r)
		}
	}
	slices.SortFunc(rows, func(a, b *jobRow) int {
		return cmp.Or(cmp.Compare(a.createdAt, b.createdAt), strings.Compare(a.id, b.id))
	})
	var out []recovery.Job
	for _, r := range rows {
		var j recovery.Job
		if err := json.Unmarshal(r.data, &j); err != nil {
			return nil, fmt.Errorf("listing jobs: decoding job: %w", err)
		}
		j.Version = r.version
		out = append(out, j)
	}
	return out, nil
}

// LockEnv gives env's job slot to jobID, or keeps it when jobID holds it already;
// recovery.ErrDuplicate (wrapped, naming the holder) when another job holds it.
func (s *Store) LockEnv(ctx context.Context, env, jobID string) error {
	if err := live(ctx, fmt.Sprintf("locking %s for %s", env, jobID)); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if holder, ok := s.envLocks[env]; ok && holder != jobID {
		return fmt.Errorf("%s is busy with job %s: %w", env, holder, recovery.ErrDuplicate)
	}
	s.envLocks[env] = jobID
	return nil
}

// UnlockEnv frees env's job slot if jobID holds it.
func (s *Store) UnlockEnv(ctx context.Context, env, jobID string) error {
	if err := live(ctx, "unlocking "+env); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.envLocks[env] == jobID {
		delete(s.envLocks, env)
	}
	return nil
}

// EnvLock returns the job holding env's slot, "" when free.
func (s *Store) EnvLock(ctx context.Context, env string) (string, error) {
	if err := live(ctx, "reading the lock of "+env); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.envLocks[env], nil
}

// CreateRequest stores a new request (Version 1 when 0); recovery.ErrDuplicate when
// its ID is taken or, for a pending request, a pending request has the same DedupeKey.
func (s *Store) CreateRequest(ctx context.Context, r recovery.Request) error {
	if err := live(ctx, "creating request "+r.ID); err != nil {
		return err
	}
	if r.Version == 0 {
		r.Version = 1
	}
	data, err := encode(r)
	if err != nil {
		return fmt.Errorf("encoding request %s: %w", r.ID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.requests[r.ID]; taken || (r.State == recovery.RequestPending && s.pendingLocked(r.DedupeKey, "") != nil) {
		return fmt.Errorf("creating request %s: %w", r.ID, recovery.ErrDuplicate)
	}
	s.requests[r.ID] = &requestRow{id: r.ID, dedupeKey: r.DedupeKey, state: r.State, expiresAt: ms(r.ExpiresAt),
		createdAt: ms(r.RequestedAt), version: r.Version, data: data}
	return nil
}

// pendingLocked returns the pending request with the dedupe key key other than
// except, nil when there is none. s.mu is held.
func (s *Store) pendingLocked(key, except string) *requestRow {
	for _, r := range s.requests {
		if r.state == recovery.RequestPending && r.dedupeKey == key && r.id != except {
			return r
		}
	}
	return nil
}

// UpdateRequest saves r when its Version is the stored one and returns it with the
// next Version; recovery.ErrConflict otherwise (a request never created too). Its
// DedupeKey stays the one it was created with; making it pending again while another
// request with that key is pending fails (with neither ErrConflict nor ErrDuplicate,
// as the SQL store's unique index does).
func (s *Store) UpdateRequest(ctx context.Context, r recovery.Request) (recovery.Request, error) {
	if err := live(ctx, "updating request "+r.ID); err != nil {
		return recovery.Request{}, err
	}
	prev := r.Version
	r.Version++
	data, err := encode(r)
	if err != nil {
		return recovery.Request{}, fmt.Errorf("encoding request %s: %w", r.ID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	row, ok := s.requests[r.ID]
	if !ok || row.version != prev {
		return recovery.Request{}, fmt.Errorf("updating request %s (version %d): %w", r.ID, prev, recovery.ErrConflict)
	}
	if r.State == recovery.RequestPending && s.pendingLocked(row.dedupeKey, r.ID) != nil {
		return recovery.Request{}, fmt.Errorf("updating request %s: another request with its dedupe key is pending", r.ID)
	}
	row.state, row.expiresAt, row.version, row.data = r.State, ms(r.ExpiresAt), r.Version, data
	return r, nil
}

// Request returns one request, or an error wrapping recovery.ErrNotFound.
func (s *Store) Request(ctx context.Context, id string) (recovery.Request, error) {
	rs, err := s.listRequests(ctx, func(r *requestRow) bool { return r.id == id })
	if err != nil {
		return recovery.Request{}, err
	}
	if len(rs) == 0 {
		return recovery.Request{}, fmt.Errorf("request %s: %w", id, recovery.ErrNotFound)
	}
	return rs[0], nil
}

// PendingRequest returns the pending request with a dedupe key, or ErrNotFound.
func (s *Store) PendingRequest(ctx context.Context, key string) (recovery.Request, error) {
	rs, err := s.listRequests(ctx, func(r *requestRow) bool { return r.dedupeKey == key && r.state == recovery.RequestPending })
	if err != nil {
		return recovery.Request{}, err
	}
	if len(rs) == 0 {
		return recovery.Request{}, fmt.Errorf("pending request %s: %w", key, recovery.ErrNotFound)
	}
	return rs[0], nil
}

// ExpiredRequests lists pending requests that expired before t, oldest first.
func (s *Store) ExpiredRequests(ctx context.Context, t time.Time) ([]recovery.Request, error) {
	return s.listRequests(ctx, func(r *requestRow) bool { return r.state == recovery.RequestPending && r.expiresAt < ms(t) })
}

func (s *Store) listRequests(ctx context.Context, keep func(*requestRow) bool) ([]recovery.Request, error) {
	if err := live(ctx, "listing requests"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var rows []*requestRow
	for _, r := range s.requests {
		if keep(r) {
			rows = append(rows, r)
		}
	}
	slices.SortFunc(rows, func(a, b *requestRow) int {
		return cmp.Or(cmp.Compare(a.createdAt, b.createdAt), strings.Compare(a.id, b.id))
	})
	var out []recovery.Request
	for _, row := range rows {
		var r recovery.Request
		if err := json.Unmarshal(row.data, &r); err != nil {
			return nil, fmt.Errorf("listing requests: decoding request: %w", err)
		}
		r.Version = row.version
		out = append(out, r)
	}
	return out, nil
}

// AppendAudit adds an entry to the audit log, at now when its At is zero. Entries are
// never changed or removed; the Detail is redacted as the SQL store redacts it.
func (s *Store) AppendAudit(ctx context.Context, e recovery.AuditEntry) error {
	if err := live(ctx, fmt.Sprintf("appending audit %s by %s", e.Action, e.Actor)); err != nil {
		return err
	}
	if e.At.IsZero() {
		e.At = s.now()
	}
	detail, err := encode(e.Detail)
	if err != nil {
		return fmt.Errorf("encoding audit detail: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.audit = append(s.audit, auditRow{at: ms(e.At), actor: e.Actor, action: e.Action, env: e.Env,
		incidentID: e.IncidentID, jobID: e.JobID, detail: detail})
	return nil
}

// IncidentAudit returns an incident's audit entries, oldest first; entries of the
// same millisecond in the order they were appended.
func (s *Store) IncidentAudit(ctx context.Context, incidentID string) ([]recovery.AuditEntry, error) {
	if err := live(ctx, "reading audit"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var rows []auditRow
	for _, r := range s.audit {
		if r.incidentID == incidentID {
			rows = append(rows, r)
		}
	}
	slices.SortStableFunc(rows, func(a, b auditRow) int { return cmp.Compare(a.at, b.at) })
	var out []recovery.AuditEntry
	for _, r := range rows {
		e := recovery.AuditEntry{At: fromMS(r.at), Actor: r.actor, Action: r.action, Env: r.env, IncidentID: r.incidentID, JobID: r.jobID}
		if err := json.Unmarshal(r.detail, &e.Detail); err != nil {
			return nil, fmt.Errorf("reading audit: decoding audit detail: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}

// Cursor returns a poller's cursor, the zero time when never set. Cursors are kept to
// the millisecond, in UTC.
func (s *Store) Cursor(ctx context.Context, name string) (time.Time, error) {
	if err := live(ctx, "reading cursor "+name); err != nil {
		return time.Time{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return fromMS(s.cursors[name]), nil
}

// SetCursor records a poller's cursor.
func (s *Store) SetCursor(ctx context.Context, name string, t time.Time) error {
	if err := live(ctx, "saving cursor "+name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cursors[name] = ms(t)
	return nil
}

// AcquireLease takes the lease name for holder until ttl from now, when it is free,
// expired (at or before now), or held by holder already (then it is renewed). It
// reports whether holder holds the lease now.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if holder == "" || ttl <= 0 {
		return false, fmt.Errorf("acquiring lease %s: need a holder and a positive ttl (got %q, %s)", name, holder, ttl)
	}
	if err := live(ctx, fmt.Sprintf("acquiring lease %s for %s", name, holder)); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if l, ok := s.leases[name]; ok && l.holder != holder && l.expiresAt > ms(now) {
		return false, nil
	}
	s.leases[name] = leaseRow{holder: holder, expiresAt: ms(now.Add(ttl))}
	return true, nil
}

// ReleaseLease gives the lease name up if holder holds it. Releasing a lease held by
// another does nothing.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if err := live(ctx, fmt.Sprintf("releasing lease %s of %s", name, holder)); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leases[name].holder == holder {
		delete(s.leases, name)
	}
	return nil
}

// LeaseHolder returns who holds the lease name and until when; "" and the zero time
// when nobody does (never taken, released, or expired by the store's clock).
func (s *Store) LeaseHolder(ctx context.Context, name string) (string, time.Time, error) {
	if err := live(ctx, "reading lease "+name); err != nil {
		return "", time.Time{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.leases[name]
	if !ok || l.expiresAt <= ms(s.now()) {
		return "", time.Time{}, nil
	}
	return l.holder, fromMS(l.expiresAt), nil
}

// SavePlan keeps a copy of the saved plan a request's preview made; another plan for
// the same request replaces it. A plan over recovery.MaxPlanBytes is refused.
func (s *Store) SavePlan(ctx context.Context, requestID string, plan []byte) error {
	if len(plan) > recovery.MaxPlanBytes {
		return fmt.Errorf("saving the plan of %s: %d bytes is over the %d-byte limit", requestID, len(plan), recovery.MaxPlanBytes)
	}
	if err := live(ctx, "saving the plan of "+requestID); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plans[requestID] = planRow{data: slices.Clone(plan), createdAt: ms(s.now())}
	return nil
}

// Plan returns a copy of the plan saved for a request and its hex SHA-256, or an
// error wrapping recovery.ErrNotFound.
func (s *Store) Plan(ctx context.Context, requestID string) ([]byte, string, error) {
	if err := live(ctx, "reading the plan of "+requestID); err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.plans[requestID]
	if !ok {
		return nil, "", fmt.Errorf("plan of %s: %w", requestID, recovery.ErrNotFound)
	}
	sum := sha256.Sum256(p.data)
	// Never nil: the SQL store decodes an empty plan as an empty slice.
	return append([]byte{}, p.data...), hex.EncodeToString(sum[:]), nil
}

// DeletePlan forgets a request's plan; deleting one that is not there is not an error.
func (s *Store) DeletePlan(ctx context.Context, requestID string) error {
	if err := live(ctx, "deleting the plan of "+requestID); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.plans, requestID)
	return nil
}

// PurgePlans deletes plans saved before t and reports how many.
func (s *Store) PurgePlans(ctx context.Context, before time.Time) (int64, error) {
	if err := live(ctx, "purging plans"); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for id, p := range s.plans {
		if p.createdAt < ms(before) {
			delete(s.plans, id)
			n++
		}
	}
	return n, nil
}

// noLimit is the limit of a list that has none.
const noLimit = math.MaxInt

// limited returns the first limit rows; all of them when limit is negative, as SQLite
// reads a negative LIMIT (PostgreSQL refuses one).
func limited[T any](rows []T, limit int) []T {
	if limit < 0 {
		return rows
	}
	return rows[:min(limit, len(rows))]
}

// resolvedLast ranks the unresolved before the resolved, as SQL orders the boolean
// status = 'resolved' (false first).
func resolvedLast(r *incidentRow) int {
	if r.status == recovery.IncidentResolved {
		return 1
	}
	return 0
}

// ms is a time as the SQL store keeps it: Unix milliseconds, 0 for the zero time.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// encode is how the SQL store writes everything: JSON with every string value
// redacted but identifiers'.
func encode(v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	data, _, err = recovery.RedactJSONKeeping(data, identifier)
	return data, err
}

// identifier reports whether a stored field is an identifier medic acts on, whose
// value is kept as it is: the same list as the SQL store's (store/store.go), which the
// conformance suite's redaction test holds both to.
func identifier(key string) bool {
	switch key {
	case "LockID", "Alarm", "AlarmName", "Alarms", "SourceKey", "Env", "Channel", "Workflow", "Scenario", "Action", "Pager", "Levels", "Reached", "Owner":
		return true
	}
	return strings.HasSuffix(key, "ID") || strings.HasSuffix(key, "SHA") || strings.HasSuffix(key, "TS")
}
