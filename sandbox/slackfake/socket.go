package slackfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// writeTimeout bounds every frame the fake writes, so a client that stops reading
// cannot hold a sender forever.
const writeTimeout = 5 * time.Second

// disconnectGrace is how long a connection told to disconnect may take to close its
// side before the fake closes the socket.
const disconnectGrace = 2 * time.Second

// wsConn is one Socket Mode WebSocket connection.
type wsConn struct {
	// id numbers connections in the order they opened, from 1.
	id int
	ws *websocket.Conn
	// wmu serializes data frames: gorilla connections allow one writer at a time
	// (WriteControl, used for PINGs, may run alongside).
	wmu       sync.Mutex
	done      chan struct{}
	closeOnce sync.Once
	// stalled marks a half-open link (Stall): nothing is written or read any more,
	// though the socket stays open.
	stalled atomic.Bool
}

// writeText sends one text frame. On a stalled connection the frame is lost on the
// way, as on a link that stopped passing packets: no error, nothing sent.
func (c *wsConn) writeText(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.stalled.Load() {
		return nil
	}
	if err := c.ws.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return fmt.Errorf("setting write deadline: %w", err)
	}
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return fmt.Errorf("writing frame: %w", err)
	}
	return nil
}

// close closes the socket without a close frame.
func (c *wsConn) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		_ = c.ws.Close()
	})
}

// upgrader accepts slack-go's dial, which sends Origin: https://api.slack.com
// (socketmode/socket_mode_managed_conn.go:293).
var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// serveLink upgrades /link/?ticket=N, a URL handed out by apps.connections.open, sends
// hello and then serves the connection: PINGs out, acks in.
func (s *Server) serveLink(w http.ResponseWriter, r *http.Request) {
	ctx, done := s.requestContext(r)
	fe := s.faults.Hit(ctx, "slack:websocket")
	done()
	if fe != nil {
		writeFault(w, fe)
		return
	}
	ticket := r.URL.Query().Get("ticket")
	s.mu.Lock()
	valid := s.tickets[ticket]
	delete(s.tickets, ticket)
	s.mu.Unlock()
	if !valid {
		http.Error(w, "invalid or used ticket", http.StatusUnauthorized)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &wsConn{ws: ws, done: make(chan struct{})}
	// Hold the write lock until hello is out, so no envelope overtakes it.
	c.wmu.Lock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.wmu.Unlock()
		c.close()
		return
	}
	s.opened++
	c.id = s.opened
	s.conns = append(s.conns, c)
	s.live[c] = true
	n := len(s.conns)
	s.wg.Add(2)
	s.notifyLocked()
	s.mu.Unlock()
	hello, _ := json.Marshal(map[string]any{
		"type":            "hello",
		"num_connections": n,
		"connection_info": map[string]any{"app_id": s.opts.AppID},
		"debug_info": map[string]any{
			"host":                        "applink-slackfake",
			"build_number":                1,
			"approximate_connection_time": 18060,
		},
	})
	err = ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err == nil {
		err = ws.WriteMessage(websocket.TextMessage, hello)
	}
	c.wmu.Unlock()
	go s.pingLoop(c)
	if err == nil {
		s.flushWaiting()
	}
	s.readLoop(c)
}

// pingLoop sends a WebSocket PING every PingInterval; slack-go reconnects when none
// arrives within its maxPingInterval (30 s by default, socketmode/socketmode.go:51).
func (s *Server) pingLoop(c *wsConn) {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			if c.stalled.Load() {
				continue
			}
			// Count first: the PONG may be read before WriteControl returns.
			s.mu.Lock()
			s.pingsSent++
			s.notifyLocked()
			s.mu.Unlock()
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)); err != nil {
				s.mu.Lock()
				s.pingsSent--
				s.mu.Unlock()
				c.close()
				return
			}
		}
	}
}

// readLoop reads acks until the connection ends, then forgets the connection.
func (s *Server) readLoop(c *wsConn) {
	defer s.wg.Done()
	defer func() {
		c.close()
		s.mu.Lock()
		delete(s.live, c)
		s.mu.Unlock()
		s.removeConn(c)
	}()
	c.ws.SetPongHandler(func(string) error {
		if c.stalled.Load() {
			return nil
		}
		s.mu.Lock()
		s.pongs++
		s.notifyLocked()
		s.mu.Unlock()
		return nil
	})
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		if c.stalled.Load() {
			continue // lost on the way
		}
		s.recordAck(c, data)
	}
}

// removeConn takes c out of the connections envelopes are delivered to.
func (s *Server) removeConn(c *wsConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.Index(s.conns, c); i >= 0 {
		s.conns = slices.Delete(s.conns, i, i+1)
		s.notifyLocked()
	}
}

// takeConns removes and returns every open connection.
func (s *Server) takeConns() []*wsConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	conns := s.conns
	s.conns = nil
	s.notifyLocked()
	return conns
}

// Disconnect sends a disconnect frame with reason ("refresh_requested", "warning",
// "link_disabled", "too_many_websockets") to every open connection, then a close frame,
// and closes each socket once the client has closed its side (or after a grace
// period). slack-go reconnects with a new apps.connections.open whatever the reason.
func (s *Server) Disconnect(reason string) {
	frame, _ := json.Marshal(map[string]any{
		"type":       "disconnect",
		"reason":     reason,
		"debug_info": map[string]any{"host": "applink-slackfake"},
	})
	for _, c := range s.takeConns() {
		if c.stalled.Load() {
			// Lost on the way like everything else sent on a stalled link.
			_ = c.ws.SetReadDeadline(time.Now().Add(disconnectGrace))
			continue
		}
		_ = c.writeText(frame)
		_ = c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, reason), time.Now().Add(writeTimeout))
		// The read loop ends on the client's close or at this deadline, and closes c.
		_ = c.ws.SetReadDeadline(time.Now().Add(disconnectGrace))
	}
}

// Drop closes every socket abruptly, without a close frame, as a network failure
// would. slack-go notices on its next read and reconnects.
func (s *Server) Drop() {
	for _, c := range s.takeConns() {
		c.close()
	}
}

// Stall turns every open connection into a half-open link, as when a NAT or load
// balancer silently forgets the flow: the socket stays open, but from now on nothing
// gets through in either direction. No close frame, no PING: envelopes sent to a stalled
// connection are recorded as delivered and lost (so Slack redelivers them after
// AckTimeout), and acks and PONGs from the client are dropped. The client only notices
// when no PING arrives within its maxPingInterval (slack-go's ping timeout), closes its
// side and reconnects; connections opened after Stall work normally.
func (s *Server) Stall() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.stalled.Store(true)
	}
}

// FailConnectionsOpen makes the next n apps.connections.open calls answer
// {"ok":false,"error":"internal_error"}, an error slack-go retries with backoff.
func (s *Server) FailConnectionsOpen(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failOpens = n
}

// Connections reports how many Socket Mode connections are open now.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// ConnectionsOpened reports how many Socket Mode connections were accepted in total.
func (s *Server) ConnectionsOpened() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opened
}

// WaitConnected waits until at least n Socket Mode connections are open.
func (s *Server) WaitConnected(ctx context.Context, n int) error {
	if err := s.wait(ctx, func() bool { return len(s.conns) >= n }); err != nil {
		return fmt.Errorf("waiting for %d connections: %w", n, err)
	}
	return nil
}

// PingStats counts WebSocket PING frames sent and PONG frames received.
type PingStats struct {
	// Sent counts PING frames written, over all connections.
	Sent int
	// Pongs counts PONG frames the clients answered with.
	Pongs int
}

// Pings reports the PING/PONG counts so far.
func (s *Server) Pings() PingStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return PingStats{Sent: s.pingsSent, Pongs: s.pongs}
}

// Delivery is one sending of an envelope.
type Delivery struct {
	// Conn is the connection it went to, numbered from 1 in the order they opened.
	Conn int
	// RetryAttempt and RetryReason are the frame's retry_attempt and retry_reason.
	RetryAttempt int
	RetryReason  string
	// At is when it was sent, by the server clock.
	At time.Time
}

// Envelope is an envelope the fake sent, with its deliveries.
type Envelope struct {
	// ID is the envelope_id.
	ID string
	// Type is "slash_commands", "interactive" or "events_api".
	Type string
	// Payload is the payload JSON.
	Payload json.RawMessage
	// Deliveries lists every sending, first to last.
	Deliveries []Delivery
	// Acked reports whether an ack arrived.
	Acked bool
	// GaveUp reports that MaxRetries redeliveries went unacknowledged.
	GaveUp bool
}

// Ack is the acknowledgement of an envelope.
type Ack struct {
	// EnvelopeID is the acknowledged envelope_id.
	EnvelopeID string
	// Type is the envelope's type.
	Type string
	// Payload is the payload of the first ack (the one Slack uses), nil when none.
	Payload json.RawMessage
	// At is when the first ack arrived, by the server clock.
	At time.Time
	// Latency is the time from the first sending to the first ack, by the server clock.
	Latency time.Duration
	// Count is how many acks arrived for the envelope.
	Count int
	// Conn is the connection the first ack arrived on.
	Conn int
}

// envelope is the fake's record of an envelope.
type envelope struct {
	id      string
	typ     string
	payload json.RawMessage
	accepts bool
	// retry is the retry_attempt of the latest timeout redelivery.
	retry      int
	firstSent  time.Time
	deliveries []*Delivery
	timer      *time.Timer
	// waiting marks a redelivery due while no connection was open.
	waiting bool
	gaveUp  bool
	acked   bool
	ack     Ack
	// user, channel and viewID are what an ack payload acts on.
	user, channel, viewID string
}

// newEnvelopeLocked registers an envelope with a UUID-shaped envelope_id.
func (s *Server) newEnvelopeLocked(typ string, payload any, accepts bool) (*envelope, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encoding %s payload: %w", typ, err)
	}
	n := s.nextIDLocked()
	env := &envelope{
		id:      fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(n)*2654435761, n&0xffff, n&0xfff, n&0xfff, n),
		typ:     typ,
		payload: b,
		accepts: accepts,
	}
	s.envelopes[env.id] = env
	return env, nil
}

// canInjectLocked reports why an envelope cannot be sent now.
func (s *Server) canInjectLocked() error {
	if s.closed {
		return ErrClosed
	}
	if len(s.conns) == 0 {
		return ErrNoConnection
	}
	return nil
}

// deliverNew sends a new envelope and returns its ID; on failure it forgets it.
func (s *Server) deliverNew(env *envelope) (string, error) {
	if err := s.send(env, 0, "", true); err != nil {
		s.mu.Lock()
		delete(s.envelopes, env.id)
		s.mu.Unlock()
		return "", fmt.Errorf("delivering %s envelope: %w", env.typ, err)
	}
	return env.id, nil
}

// send writes env to the next connection in round-robin order (trying the others if a
// write fails) with the given retry fields. With arm, an unacknowledged envelope is
// redelivered after AckTimeout.
func (s *Server) send(env *envelope, attempt int, reason string, arm bool) error {
	frame, err := json.Marshal(map[string]any{
		"envelope_id":              env.id,
		"type":                     env.typ,
		"payload":                  env.payload,
		"accepts_response_payload": env.accepts,
		"retry_attempt":            attempt,
		"retry_reason":             reason,
	})
	if err != nil {
		return fmt.Errorf("encoding envelope: %w", err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	var order []*wsConn
	if n := len(s.conns); n > 0 {
		start := s.rr % n
		order = append(append(order, s.conns[start:]...), s.conns[:start]...)
		s.rr++
	}
	if env.firstSent.IsZero() {
		env.firstSent = s.now()
	}
	s.mu.Unlock()
	for _, c := range order {
		d := &Delivery{Conn: c.id, RetryAttempt: attempt, RetryReason: reason}
		s.mu.Lock()
		d.At = s.now()
		env.deliveries = append(env.deliveries, d)
		s.mu.Unlock()
		if err := c.writeText(frame); err != nil {
			s.mu.Lock()
			env.deliveries = slices.DeleteFunc(env.deliveries, func(x *Delivery) bool { return x == d })
			s.mu.Unlock()
			s.removeConn(c)
			c.close()
			continue
		}
		s.mu.Lock()
		if arm && !env.acked && !s.closed {
			if env.timer != nil {
				env.timer.Stop()
			}
			env.timer = time.AfterFunc(s.opts.AckTimeout, func() { s.ackTimedOut(env, attempt) })
		}
		s.notifyLocked()
		s.mu.Unlock()
		return nil
	}
	return ErrNoConnection
}

// ackTimedOut redelivers env with retry_attempt+1 and retry_reason "timeout", up to
// MaxRetries times, as Slack does for an envelope not acknowledged in time. With no
// connection open, the redelivery waits for the next connection.
func (s *Server) ackTimedOut(env *envelope, attempt int) {
	s.mu.Lock()
	if s.closed || env.acked || env.retry != attempt {
		s.mu.Unlock()
		return
	}
	if attempt >= s.opts.MaxRetries {
		env.gaveUp = true
		s.notifyLocked()
		s.mu.Unlock()
		return
	}
	env.retry = attempt + 1
	if len(s.conns) == 0 {
		env.waiting = true
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	if err := s.send(env, attempt+1, "timeout", true); errors.Is(err, ErrNoConnection) {
		s.mu.Lock()
		env.waiting = true
		s.mu.Unlock()
	}
}

// flushWaiting sends the redeliveries that were due while no connection was open.
func (s *Server) flushWaiting() {
	type due struct {
		env     *envelope
		attempt int
	}
	s.mu.Lock()
	var list []due
	for _, env := range s.envelopes {
		if env.waiting && !env.acked {
			env.waiting = false
			list = append(list, due{env, env.retry})
		}
	}
	s.mu.Unlock()
	for _, d := range list {
		if err := s.send(d.env, d.attempt, "timeout", true); errors.Is(err, ErrNoConnection) {
			s.mu.Lock()
			d.env.waiting = true
			s.mu.Unlock()
		}
	}
}

// Redeliver sends an envelope again exactly as it was last sent (same envelope_id,
// payload, retry_attempt and retry_reason), as Slack sometimes does: a duplicate the
// app must recognise. It does not restart the ack timeout.
func (s *Server) Redeliver(envelopeID string) error {
	s.mu.Lock()
	env, ok := s.envelopes[envelopeID]
	var attempt int
	var reason string
	if ok && len(env.deliveries) > 0 {
		last := env.deliveries[len(env.deliveries)-1]
		attempt, reason = last.RetryAttempt, last.RetryReason
	}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("redelivering %s: unknown envelope", envelopeID)
	}
	if err := s.send(env, attempt, reason, false); err != nil {
		return fmt.Errorf("redelivering %s: %w", envelopeID, err)
	}
	return nil
}

// ackFrame is what the app sends back over the socket (socketmode/response.go).
type ackFrame struct {
	EnvelopeID string          `json:"envelope_id"`
	Payload    json.RawMessage `json:"payload"`
}

// recordAck records an ack frame and applies its payload as Slack would.
func (s *Server) recordAck(c *wsConn, data []byte) {
	var f ackFrame
	if err := json.Unmarshal(data, &f); err != nil || f.EnvelopeID == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	env, ok := s.envelopes[f.EnvelopeID]
	if !ok {
		return
	}
	env.ack.Count++
	if !env.acked {
		now := s.now()
		env.acked = true
		env.waiting = false
		if env.timer != nil {
			env.timer.Stop()
		}
		if string(f.Payload) == "null" {
			f.Payload = nil
		}
		env.ack = Ack{
			EnvelopeID: env.id,
			Type:       env.typ,
			Payload:    f.Payload,
			At:         now,
			Latency:    now.Sub(env.firstSent),
			Count:      env.ack.Count,
			Conn:       c.id,
		}
		s.ackOrder = append(s.ackOrder, env.id)
		if env.accepts {
			s.applyAckPayloadLocked(env, f.Payload)
		}
	}
	s.notifyLocked()
}

// applyAckPayloadLocked does what Slack does with an ack payload: a slash command's
// payload is shown as a message (ephemeral unless response_type is in_channel), a
// view_submission's response_action acts on the modal.
func (s *Server) applyAckPayloadLocked(env *envelope, payload json.RawMessage) {
	switch {
	case env.typ == "slash_commands":
		if len(payload) == 0 {
			return
		}
		var body hookBody
		if json.Unmarshal(payload, &body) != nil {
			return
		}
		blocks := body.Blocks
		if len(blocks) > 0 && string(blocks) != "null" {
			nb, err := s.normalizeBlocksLocked(blocks, maxMessageBlocks)
			if err != nil {
				return
			}
			blocks = nb
		} else {
			blocks = nil
		}
		if body.Text == "" && len(blocks) == 0 {
			return
		}
		m := &Message{Channel: env.channel, TS: s.nextTSLocked(), Text: body.Text, Blocks: blocks, Via: "ack"}
		if body.ResponseType != "in_channel" {
			m.Ephemeral, m.User = true, env.user
		}
		s.addLocked(m)
	case env.viewID != "":
		s.applyViewResponseLocked(env.viewID, payload)
	}
}

// WaitAck waits for the first ack of an envelope. It returns ErrUnacked when Slack
// gave up on it after MaxRetries redeliveries.
func (s *Server) WaitAck(ctx context.Context, envelopeID string) (Ack, error) {
	return s.WaitAcks(ctx, envelopeID, 1)
}

// WaitAcks waits until n acks arrived for an envelope (more than one after Redeliver)
// and returns the ack record. It returns ErrUnacked when Slack gave up on it.
func (s *Server) WaitAcks(ctx context.Context, envelopeID string, n int) (Ack, error) {
	var (
		ack     Ack
		unknown bool
		gaveUp  bool
	)
	err := s.wait(ctx, func() bool {
		env, ok := s.envelopes[envelopeID]
		if !ok {
			unknown = true
			return true
		}
		if env.acked && env.ack.Count >= n {
			ack = env.ack
			return true
		}
		gaveUp = env.gaveUp && !env.acked
		return gaveUp
	})
	switch {
	case err != nil:
		return Ack{}, fmt.Errorf("waiting for ack of %s: %w", envelopeID, err)
	case unknown:
		return Ack{}, fmt.Errorf("waiting for ack of %s: unknown envelope", envelopeID)
	case gaveUp:
		return Ack{}, fmt.Errorf("waiting for ack of %s: %w", envelopeID, ErrUnacked)
	}
	return ack, nil
}

// Acks returns every ack record, in the order the first acks arrived.
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Ack, 0, len(s.ackOrder))
	for _, id := range s.ackOrder {
		out = append(out, s.envelopes[id].ack)
	}
	return out
}

// Envelope returns what the fake knows of an envelope it sent.
func (s *Server) Envelope(envelopeID string) (Envelope, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	env, ok := s.envelopes[envelopeID]
	if !ok {
		return Envelope{}, false
	}
	out := Envelope{ID: env.id, Type: env.typ, Payload: env.payload, Acked: env.acked, GaveUp: env.gaveUp}
	for _, d := range env.deliveries {
		out.Deliveries = append(out.Deliveries, *d)
	}
	return out, true
}
