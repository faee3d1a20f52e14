package main

import (
	"context"
	"time"

	"github.com/medic-ops/medic/bot"
	"github.com/medic-ops/medic/config"
	"github.com/medic-ops/medic/handlers"
	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/store"
)

// pendingRequests lists every pending request through the store's expiry query: a
// request pending now expires before the far future.
type pendingRequests struct {
	st  *store.Store
	now func() time.Time
}

// farFuture is past any request's expiry (access.request_ttl is hours at most).
const farFuture = 100 * 365 * 24 * time.Hour

func (p pendingRequests) PendingRequests(ctx context.Context) ([]recovery.Request, error) {
	return p.st.ExpiredRequests(ctx, p.now().Add(farFuture))
}

// newHome makes the Home tab: it reads the store, the roles and the reads /status
// shares (src.reads: no extra GitHub call within status.freshness), and publishes
// through poster.
func newHome(cfg *config.Config, ext external, src *sources, poster *bot.Poster, a *app) (*handlers.Home, error) {
	return handlers.NewHome(handlers.HomeSources{
		Roles:      a.access,
		Requests:   pendingRequests{st: src.store, now: ext.now},
		Incidents:  src.store,
		Jobs:       src.store,
		Deploys:    src.reads,
		Envs:       src.envs,
		Escalation: cfg.DomainEscalation(),
		Publisher:  poster,
		Now:        ext.now,
		Logger:     a.log,
	})
}
