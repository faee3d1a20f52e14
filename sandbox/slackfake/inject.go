package slackfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
)

// Command is a slash command a person types.
type Command struct {
	// User is who types it ("U…").
	User string
	// Channel is where it is typed ("C…").
	Channel string
	// Command is the command with its slash, e.g. "/medic".
	Command string
	// Text is everything after the command.
	Text string
}

// SlashCommand sends a slash_commands envelope (PROTOCOLS.md 1.6) with a fresh
// response_url and trigger_id, to one open connection. It returns the envelope_id, or
// ErrNoConnection when no connection is open.
func (s *Server) SlashCommand(ctx context.Context, cmd Command) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("sending %s: %w", cmd.Command, err)
	}
	if cmd.User == "" || cmd.Channel == "" || !strings.HasPrefix(cmd.Command, "/") {
		return "", fmt.Errorf("sending slash command %+v: user, channel and a /command are required", cmd)
	}
	s.mu.Lock()
	if err := s.canInjectLocked(); err != nil {
		s.mu.Unlock()
		return "", fmt.Errorf("sending %s: %w", cmd.Command, err)
	}
	payload := map[string]any{
		"token":                 verificationToken,
		"team_id":               s.opts.TeamID,
		"team_domain":           teamDomain,
		"channel_id":            cmd.Channel,
		"channel_name":          s.channelNameLocked(cmd.Channel),
		"user_id":               cmd.User,
		"user_name":             s.userLocked(cmd.User).Name,
		"command":               cmd.Command,
		"text":                  cmd.Text,
		"api_app_id":            s.opts.AppID,
		"is_enterprise_install": "false",
		"response_url":          s.newHookLocked(cmd.Channel, cmd.User, ""),
		"trigger_id":            s.newTriggerLocked(cmd.User),
	}
	env, err := s.newEnvelopeLocked("slash_commands", payload, true)
	if err == nil {
		env.user, env.channel = cmd.User, cmd.Channel
	}
	s.mu.Unlock()
	if err != nil {
		return "", err
	}
	return s.deliverNew(env)
}

// Click is a person pressing a button or choosing a menu option in a message.
type Click struct {
	// User is who clicks.
	User string
	// Channel and MessageTS locate the message in the transcript.
	Channel   string
	MessageTS string
	// ActionID is the action_id of the element clicked.
	ActionID string
	// BlockID narrows the search to one block; any block when empty.
	BlockID string
	// Value is the option chosen in a select or overflow menu, the box toggled in a
	// checkbox group, or the user, channel or date of a picker. For a button it may be
	// left empty; if set it must match the button's value.
	Value string
}

// Click sends a block_actions envelope for a click on an element of a message as the
// transcript holds it now: the element must be there, as a person can only click
// what they see. The payload carries the message with its blocks (unless ephemeral,
// which Slack does not echo), the container, a response_url that acts on the message
// and a fresh trigger_id.
func (s *Server) Click(ctx context.Context, c Click) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("clicking %s: %w", c.ActionID, err)
	}
	s.mu.Lock()
	env, err := s.clickLocked(c)
	s.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("clicking %s: %w", c.ActionID, err)
	}
	return s.deliverNew(env)
}

// ClickRepeatedly sends n clicks on one element as the message looked when the first
// was made: a person hammering a button, or several people clicking one screen,
// before medic's update of the message reaches them. The envelopes are built first
// and then delivered concurrently. It returns their envelope IDs.
func (s *Server) ClickRepeatedly(ctx context.Context, c Click, n int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("clicking %s: %w", c.ActionID, err)
	}
	envs := make([]*envelope, 0, n)
	s.mu.Lock()
	for i := 0; i < n; i++ {
		env, err := s.clickLocked(c)
		if err != nil {
			s.mu.Unlock()
			return nil, fmt.Errorf("clicking %s: %w", c.ActionID, err)
		}
		envs = append(envs, env)
	}
	s.mu.Unlock()
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, env := range envs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], errs[i] = s.deliverNew(env)
		}()
	}
	wg.Wait()
	return ids, errors.Join(errs...)
}

// clickLocked builds the block_actions envelope of a click.
func (s *Server) clickLocked(c Click) (*envelope, error) {
	if err := s.canInjectLocked(); err != nil {
		return nil, err
	}
	m := s.findLocked(c.Channel, c.MessageTS)
	if m == nil || m.Deleted {
		return nil, fmt.Errorf("no message %s in %s", c.MessageTS, c.Channel)
	}
	if m.Ephemeral && m.User != c.User {
		return nil, fmt.Errorf("message %s is only visible to %s", m.TS, m.User)
	}
	el, blockID, err := findAction(m.Blocks, c.ActionID, c.BlockID)
	if err != nil {
		return nil, fmt.Errorf("message %s: %w", m.TS, err)
	}
	action, err := actionPayload(el, c.Value)
	if err != nil {
		return nil, fmt.Errorf("message %s: %w", m.TS, err)
	}
	action["block_id"] = blockID
	action["action_ts"] = s.nextTSLocked()
	container := map[string]any{
		"type":         "message",
		"message_ts":   m.TS,
		"channel_id":   m.Channel,
		"is_ephemeral": m.Ephemeral,
	}
	if m.ThreadTS != "" {
		container["thread_ts"] = m.ThreadTS
	}
	u := s.userLocked(c.User)
	payload := map[string]any{
		"type":                  "block_actions",
		"api_app_id":            s.opts.AppID,
		"token":                 verificationToken,
		"trigger_id":            s.newTriggerLocked(c.User),
		"user":                  map[string]any{"id": u.ID, "username": u.Name, "name": u.Name, "team_id": s.opts.TeamID},
		"team":                  map[string]any{"id": s.opts.TeamID, "domain": teamDomain},
		"enterprise":            nil,
		"is_enterprise_install": false,
		"channel":               map[string]any{"id": m.Channel, "name": s.channelNameLocked(m.Channel)},
		"container":             container,
		"response_url":          s.newHookLocked(m.Channel, c.User, m.TS),
		"state":                 map[string]any{"values": map[string]any{}},
		"actions":               []any{action},
	}
	if !m.Ephemeral {
		payload["message"] = s.wireMessageLocked(m)
	}
	env, err := s.newEnvelopeLocked("interactive", payload, false)
	if err != nil {
		return nil, err
	}
	env.user, env.channel = c.User, m.Channel
	return env, nil
}

// actionPayload returns the actions[] entry Slack sends for using element el with
// value: a button's text and value, a menu's selected_option, a picker's selection.
func actionPayload(el kitElement, value string) (map[string]any, error) {
	a := map[string]any{"type": el.Type, "action_id": el.ActionID}
	switch el.Type {
	case "button":
		if value != "" && value != el.Value {
			return nil, fmt.Errorf("button %s has value %q, not %q", el.ActionID, el.Value, value)
		}
		a["text"] = el.Text
		if el.Value != "" {
			a["value"] = el.Value
		}
		if st := el.style(); st != "" {
			a["style"] = st
		}
	case "static_select", "overflow", "radio_buttons":
		o, ok := findOption(el, value)
		if !ok {
			return nil, fmt.Errorf("%s %s has no option %q", el.Type, el.ActionID, value)
		}
		a["selected_option"] = o
	case "checkboxes":
		// Clicking a box toggles it; Slack sends every box ticked after the click.
		o, ok := findOption(el, value)
		if !ok {
			return nil, fmt.Errorf("checkboxes %s has no option %q", el.ActionID, value)
		}
		selected := []kitOption{}
		toggled := false
		for _, io := range el.InitialOptions {
			if io.Value == o.Value {
				toggled = true
				continue
			}
			selected = append(selected, io)
		}
		if !toggled {
			selected = append(selected, o)
		}
		a["selected_options"] = selected
	case "users_select":
		a["selected_user"] = value
	case "conversations_select":
		a["selected_conversation"] = value
	case "channels_select":
		a["selected_channel"] = value
	case "datepicker":
		a["selected_date"] = value
	case "timepicker":
		a["selected_time"] = value
	default:
		a["value"] = value
	}
	return a, nil
}

// Submission is a person submitting a modal.
type Submission struct {
	// User is who submits.
	User string
	// ViewID is the modal, as opened by views.open. Leave it empty and set CallbackID
	// to submit a modal the fake never saw opened.
	ViewID string
	// CallbackID is the modal's callback_id when ViewID is empty.
	CallbackID string
	// PrivateMetadata is the modal's private_metadata when ViewID is empty; with a
	// ViewID it may be left empty and must otherwise match the view's.
	PrivateMetadata string
	// Values are the entered values by block_id and action_id: the text of a text
	// input, the option value of a select, the user of a user picker, and so on.
	Values map[string]map[string]string
}

// SubmitView sends a view_submission envelope for a modal opened with views.open (or
// described by CallbackID only). Inputs must exist in the modal and required inputs
// must have a value, as Slack's client enforces before sending.
func (s *Server) SubmitView(ctx context.Context, sub Submission) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("submitting view: %w", err)
	}
	s.mu.Lock()
	env, err := s.submitLocked(sub)
	s.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("submitting view %s%s: %w", sub.ViewID, sub.CallbackID, err)
	}
	return s.deliverNew(env)
}

// submitLocked builds the view_submission envelope of a submission.
func (s *Server) submitLocked(sub Submission) (*envelope, error) {
	if err := s.canInjectLocked(); err != nil {
		return nil, err
	}
	values := map[string]any{}
	var view map[string]any
	switch {
	case sub.ViewID != "":
		v, ok := s.views[sub.ViewID]
		if !ok {
			return nil, fmt.Errorf("no view %s was opened", sub.ViewID)
		}
		if v.Closed {
			return nil, fmt.Errorf("view %s is closed", v.ID)
		}
		if sub.PrivateMetadata != "" && sub.PrivateMetadata != v.PrivateMetadata {
			return nil, fmt.Errorf("view %s has private_metadata %q, not %q", v.ID, v.PrivateMetadata, sub.PrivateMetadata)
		}
		var err error
		if values, err = inputValues(v.Blocks, sub.Values); err != nil {
			return nil, fmt.Errorf("view %s: %w", v.ID, err)
		}
		view = s.wireViewLocked(v, values)
	case sub.CallbackID != "":
		for blockID, actions := range sub.Values {
			block := map[string]any{}
			for actionID, value := range actions {
				block[actionID] = map[string]any{"type": "plain_text_input", "value": value}
			}
			values[blockID] = block
		}
		v := &View{
			ID:              fmt.Sprintf("V%09d", s.nextIDLocked()),
			Type:            "modal",
			CallbackID:      sub.CallbackID,
			PrivateMetadata: sub.PrivateMetadata,
			Hash:            fmt.Sprintf("%d.%08x", s.now().Unix(), uint32(s.seq)*2654435761),
		}
		view = s.wireViewLocked(v, values)
	default:
		return nil, fmt.Errorf("a ViewID or a CallbackID is required")
	}
	u := s.userLocked(sub.User)
	payload := map[string]any{
		"type":                  "view_submission",
		"api_app_id":            s.opts.AppID,
		"token":                 verificationToken,
		"trigger_id":            s.newTriggerLocked(sub.User),
		"user":                  map[string]any{"id": u.ID, "username": u.Name, "name": u.Name, "team_id": s.opts.TeamID},
		"team":                  map[string]any{"id": s.opts.TeamID, "domain": teamDomain},
		"enterprise":            nil,
		"is_enterprise_install": false,
		"view":                  view,
		"response_urls":         []any{},
	}
	env, err := s.newEnvelopeLocked("interactive", payload, true)
	if err != nil {
		return nil, err
	}
	env.user, env.viewID = sub.User, sub.ViewID
	return env, nil
}

// inputValues builds a modal's state.values from the entered values: every input
// block appears, with its initial_value when nothing was entered and null for an empty
// optional input; a value for an input the modal lacks, or no value for a required one,
// is an error.
func inputValues(raw json.RawMessage, entered map[string]map[string]string) (map[string]any, error) {
	blocks, err := parseBlocks(raw)
	if err != nil {
		return nil, err
	}
	remaining := map[string]map[string]string{}
	for b, actions := range entered {
		remaining[b] = maps.Clone(actions)
	}
	values := map[string]any{}
	for _, b := range blocks {
		if b.Type != "input" || b.Element == nil {
			continue
		}
		el := *b.Element
		value, ok := remaining[b.BlockID][el.ActionID]
		delete(remaining[b.BlockID], el.ActionID)
		if !ok && el.InitialValue != "" {
			// An input left as the modal prefilled it submits its initial value, as in Slack.
			value, ok = el.InitialValue, true
		}
		if !ok && !b.Optional {
			return nil, fmt.Errorf("required input %s/%s has no value", b.BlockID, el.ActionID)
		}
		state, err := inputState(el, value, ok)
		if err != nil {
			return nil, err
		}
		values[b.BlockID] = map[string]any{el.ActionID: state}
	}
	for b, actions := range remaining {
		for a := range actions {
			return nil, fmt.Errorf("no input %s/%s in the modal", b, a)
		}
	}
	return values, nil
}

// inputState is the state.values entry of one input element.
func inputState(el kitElement, value string, set bool) (map[string]any, error) {
	st := map[string]any{"type": el.Type}
	var v any
	switch el.Type {
	case "static_select", "radio_buttons":
		if set {
			o, ok := findOption(el, value)
			if !ok {
				return nil, fmt.Errorf("%s %s has no option %q", el.Type, el.ActionID, value)
			}
			v = o
		}
		st["selected_option"] = v
	case "checkboxes":
		var opts []kitOption
		if set {
			o, ok := findOption(el, value)
			if !ok {
				return nil, fmt.Errorf("checkboxes %s has no option %q", el.ActionID, value)
			}
			opts = append(opts, o)
		}
		st["selected_options"] = opts
	case "users_select":
		st["selected_user"] = nullable(value, set)
	case "conversations_select":
		st["selected_conversation"] = nullable(value, set)
	case "channels_select":
		st["selected_channel"] = nullable(value, set)
	case "datepicker":
		st["selected_date"] = nullable(value, set)
	case "timepicker":
		st["selected_time"] = nullable(value, set)
	default:
		st["value"] = nullable(value, set)
	}
	return st, nil
}

// nullable returns value, or nil (JSON null) when it was not entered.
func nullable(value string, set bool) any {
	if !set {
		return nil
	}
	return value
}

// Event sends an events_api envelope with a fresh event_id; event is the inner event
// (its "type" is set to eventType, its "event_ts" filled in when missing).
func (s *Server) Event(ctx context.Context, eventType string, event map[string]any) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("sending %s event: %w", eventType, err)
	}
	inner := maps.Clone(event)
	if inner == nil {
		inner = map[string]any{}
	}
	inner["type"] = eventType
	s.mu.Lock()
	if err := s.canInjectLocked(); err != nil {
		s.mu.Unlock()
		return "", fmt.Errorf("sending %s event: %w", eventType, err)
	}
	if _, ok := inner["event_ts"]; !ok {
		inner["event_ts"] = s.nextTSLocked()
	}
	n := s.nextIDLocked()
	payload := map[string]any{
		"token":      verificationToken,
		"team_id":    s.opts.TeamID,
		"api_app_id": s.opts.AppID,
		"event":      inner,
		"type":       "event_callback",
		"event_id":   fmt.Sprintf("Ev%09d", n),
		"event_time": s.now().Unix(),
		"authorizations": []any{map[string]any{
			"enterprise_id":         nil,
			"team_id":               s.opts.TeamID,
			"user_id":               s.opts.BotUserID,
			"is_bot":                true,
			"is_enterprise_install": false,
		}},
		"is_ext_shared_channel": false,
		"event_context":         fmt.Sprintf("4-sandbox-%d", n),
	}
	env, err := s.newEnvelopeLocked("events_api", payload, false)
	s.mu.Unlock()
	if err != nil {
		return "", err
	}
	return s.deliverNew(env)
}
