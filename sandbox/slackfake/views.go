package slackfake

import (
	"encoding/json"
	"fmt"
	"maps"
	"time"
	"unicode/utf8"
)

// Limits of modals (docs.slack.dev/reference/views/modal-views and
// docs.slack.dev/interactivity/handling-user-interaction#modal_responses).
const (
	// triggerTTL is how long a trigger_id can open a modal: three seconds.
	triggerTTL = 3 * time.Second
	// maxViewTitle is the longest modal title, submit or close label: 24 characters.
	maxViewTitle = 24
	// maxPrivateMetadata is the longest private_metadata: 3,000 characters.
	maxPrivateMetadata = 3000
	// maxCallbackID is the longest callback_id: 255 characters.
	maxCallbackID = 255
)

// View is a modal opened with views.open, as its user sees it now.
type View struct {
	// ID is Slack's view ID ("V…").
	ID string
	// ExternalID is the app's own ID for the view, if it set one.
	ExternalID string
	// User is who the modal was opened for (the user of the trigger_id).
	User string
	// TriggerID is the trigger_id that opened it.
	TriggerID string
	// Type is "modal".
	Type string
	// CallbackID is the app's callback_id.
	CallbackID string
	// PrivateMetadata is the app's private_metadata.
	PrivateMetadata string
	// Title is the title text.
	Title string
	// Blocks is the Block Kit JSON of the modal.
	Blocks json.RawMessage
	// Hash is the current hash; views.update with another hash fails with hash_conflict.
	Hash string
	// Updates counts views.update calls and update responses.
	Updates int
	// Closed marks a modal submitted and closed (or cleared).
	Closed bool
	// Errors holds the field errors of the last "errors" response, by block_id.
	Errors map[string]string

	// doc is the view JSON as last set by the app.
	doc map[string]json.RawMessage
}

// clone returns a copy that shares no maps with v.
func (v *View) clone() View {
	c := *v
	c.Errors = maps.Clone(v.Errors)
	c.doc = nil
	return c
}

// trigger is a trigger_id handed out with a command or an interaction.
type trigger struct {
	user   string
	issued time.Time
	used   bool
}

// newTriggerLocked registers a trigger_id for user and returns it.
func (s *Server) newTriggerLocked(user string) string {
	n := s.nextIDLocked()
	id := fmt.Sprintf("%d.%d.%016x", n, s.now().Unix(), uint64(n)*0x9E3779B97F4A7C15)
	s.triggers[id] = &trigger{user: user, issued: s.now()}
	return id
}

// Views returns every modal opened so far, in the order they were opened.
func (s *Server) Views() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]View, 0, len(s.viewOrder))
	for _, id := range s.viewOrder {
		out = append(out, s.views[id].clone())
	}
	return out
}

// viewsOpen opens a modal with a fresh trigger_id: unknown → invalid_trigger_id,
// already used → exchanged_trigger_id, older than three seconds → expired_trigger_id.
func (s *Server) viewsOpen(c *call) (map[string]any, error) {
	id, raw := c.str("trigger_id"), c.raw("view")
	if id == "" || raw == nil {
		return nil, fail("invalid_arguments")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.triggers[id]
	switch {
	case !ok:
		return nil, fail("invalid_trigger_id")
	case t.used:
		return nil, fail("exchanged_trigger_id")
	case s.now().Sub(t.issued) > triggerTTL:
		return nil, fail("expired_trigger_id")
	}
	v := &View{User: t.user, TriggerID: id}
	if err := s.setViewLocked(v, raw); err != nil {
		return nil, err
	}
	t.used = true
	v.ID = fmt.Sprintf("V%09d", s.nextIDLocked())
	s.views[v.ID] = v
	s.viewOrder = append(s.viewOrder, v.ID)
	s.notifyLocked()
	return map[string]any{"view": s.wireViewLocked(v, nil)}, nil
}

// viewsUpdate replaces an open modal, found by view_id or external_id.
func (s *Server) viewsUpdate(c *call) (map[string]any, error) {
	raw := c.raw("view")
	if raw == nil {
		return nil, fail("invalid_arguments")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.views[c.str("view_id")]
	if ext := c.str("external_id"); v == nil && ext != "" {
		for _, id := range s.viewOrder {
			if s.views[id].ExternalID == ext {
				v = s.views[id]
			}
		}
	}
	if v == nil || v.Closed {
		return nil, fail("not_found")
	}
	if h := c.str("hash"); h != "" && h != v.Hash {
		return nil, fail("hash_conflict")
	}
	if err := s.setViewLocked(v, raw); err != nil {
		return nil, err
	}
	v.Updates++
	v.Errors = nil
	s.notifyLocked()
	return map[string]any{"view": s.wireViewLocked(v, nil)}, nil
}

// setViewLocked checks a modal's JSON against Slack's limits and stores it in v.
func (s *Server) setViewLocked(v *View, raw json.RawMessage) error {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fail("invalid_arguments", "[ERROR] view is not a JSON object [json-pointer:/view]")
	}
	var f struct {
		Type            string   `json:"type"`
		Title           *kitText `json:"title"`
		Submit          *kitText `json:"submit"`
		Close           *kitText `json:"close"`
		CallbackID      string   `json:"callback_id"`
		PrivateMetadata string   `json:"private_metadata"`
		ExternalID      string   `json:"external_id"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return fail("invalid_arguments", "[ERROR] "+err.Error()+" [json-pointer:/view]")
	}
	var problems []string
	if f.Type != "modal" {
		problems = append(problems, "[ERROR] must be modal [json-pointer:/view/type]")
	}
	if f.Title == nil || f.Title.Type != "plain_text" || f.Title.Text == "" {
		problems = append(problems, "[ERROR] must provide a plain_text title [json-pointer:/view/title]")
	}
	for name, t := range map[string]*kitText{"title": f.Title, "submit": f.Submit, "close": f.Close} {
		if t != nil && utf8.RuneCountInString(t.Text) > maxViewTitle {
			problems = append(problems, fmt.Sprintf("[ERROR] must be less than %d characters [json-pointer:/view/%s/text]", maxViewTitle+1, name))
		}
	}
	if utf8.RuneCountInString(f.PrivateMetadata) > maxPrivateMetadata {
		problems = append(problems, fmt.Sprintf("[ERROR] must be less than %d characters [json-pointer:/view/private_metadata]", maxPrivateMetadata+1))
	}
	if utf8.RuneCountInString(f.CallbackID) > maxCallbackID {
		problems = append(problems, fmt.Sprintf("[ERROR] must be less than %d characters [json-pointer:/view/callback_id]", maxCallbackID+1))
	}
	if len(problems) > 0 {
		return fail("invalid_arguments", problems...)
	}
	blocks := json.RawMessage("[]")
	if b, ok := doc["blocks"]; ok {
		nb, err := s.normalizeBlocksLocked(b, maxModalBlocks)
		if err != nil {
			return err
		}
		blocks = nb
	}
	doc["blocks"] = blocks
	v.doc = doc
	v.Type, v.CallbackID, v.PrivateMetadata, v.ExternalID = f.Type, f.CallbackID, f.PrivateMetadata, f.ExternalID
	v.Title = f.Title.Text
	v.Blocks = blocks
	v.Hash = fmt.Sprintf("%d.%08x", s.now().Unix(), uint32(s.nextIDLocked())*2654435761)
	return nil
}

// wireViewLocked returns a view as views.* answers and view_submission payloads show
// it, with state.values set to values (empty when nil).
func (s *Server) wireViewLocked(v *View, values map[string]any) map[string]any {
	w := map[string]any{}
	for k, raw := range v.doc {
		w[k] = raw
	}
	if values == nil {
		values = map[string]any{}
	}
	w["id"] = v.ID
	w["team_id"] = s.opts.TeamID
	w["type"] = v.Type
	w["callback_id"] = v.CallbackID
	w["private_metadata"] = v.PrivateMetadata
	w["external_id"] = v.ExternalID
	w["hash"] = v.Hash
	w["state"] = map[string]any{"values": values}
	w["app_id"] = s.opts.AppID
	w["bot_id"] = botID
	w["root_view_id"] = v.ID
	w["previous_view_id"] = nil
	w["app_installed_team_id"] = s.opts.TeamID
	return w
}

// viewResponse is the ack payload of a view_submission (slack.ViewSubmissionResponse).
type viewResponse struct {
	ResponseAction string            `json:"response_action"`
	Errors         map[string]string `json:"errors"`
	View           json.RawMessage   `json:"view"`
}

// applyViewResponseLocked does what Slack does with a view_submission ack: "errors"
// keeps the modal open with field errors, "update" replaces it, "push" opens another,
// "clear" closes all of the user's modals and no response_action closes this one.
func (s *Server) applyViewResponseLocked(viewID string, payload json.RawMessage) {
	v := s.views[viewID]
	if v == nil {
		return
	}
	var r viewResponse
	if len(payload) > 0 {
		_ = json.Unmarshal(payload, &r)
	}
	switch r.ResponseAction {
	case "errors":
		v.Errors = maps.Clone(r.Errors)
	case "update":
		if s.setViewLocked(v, r.View) == nil {
			v.Updates++
			v.Errors = nil
		}
	case "push":
		nv := &View{User: v.User}
		if s.setViewLocked(nv, r.View) == nil {
			nv.ID = fmt.Sprintf("V%09d", s.nextIDLocked())
			s.views[nv.ID] = nv
			s.viewOrder = append(s.viewOrder, nv.ID)
		}
	case "clear":
		for _, id := range s.viewOrder {
			if s.views[id].User == v.User {
				s.views[id].Closed = true
			}
		}
	default:
		v.Closed = true
	}
	s.notifyLocked()
}
