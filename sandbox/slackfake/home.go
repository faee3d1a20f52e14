package slackfake

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxHomeBlocks is the most blocks a Home tab carries: 100 (docs.slack.dev/surfaces/app-home).
const maxHomeBlocks = 100

// HomeView is a user's Home tab as views.publish last set it.
type HomeView struct {
	// ID is Slack's view ID ("V…"), kept across publishes as Slack does.
	ID string
	// User is whose Home it is.
	User string
	// Blocks is the Block Kit JSON of the Home.
	Blocks json.RawMessage
	// Hash is the current hash; views.publish with another hash fails with hash_conflict.
	Hash string
	// Publishes counts the views.publish calls that set it.
	Publishes int
}

// Home returns user's Home tab and whether anything was published for them.
func (s *Server) Home(user string) (HomeView, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.homes[user]
	if !ok {
		return HomeView{}, false
	}
	return *h, true
}

// WaitForHome waits until user's Home tab satisfies match and returns it.
func (s *Server) WaitForHome(ctx context.Context, user string, match func(HomeView) bool) (HomeView, error) {
	var got HomeView
	err := s.wait(ctx, func() bool {
		h, ok := s.homes[user]
		if ok && match(*h) {
			got = *h
			return true
		}
		return false
	})
	if err != nil {
		return HomeView{}, fmt.Errorf("waiting for the home of %s: %w", user, err)
	}
	return got, nil
}

// viewsPublish sets a user's Home tab: user_id must be a user of the workspace (or at
// least an ID of a user's shape), the view a "home" view within the Home's limits; a
// hash other than the current one fails with hash_conflict.
func (s *Server) viewsPublish(c *call) (map[string]any, error) {
	user, raw := c.str("user_id"), c.raw("view")
	if user == "" || raw == nil {
		return nil, fail("invalid_arguments")
	}
	if user[0] != 'U' && user[0] != 'W' {
		return nil, fail("user_not_found")
	}
	var f struct {
		Type            string          `json:"type"`
		Blocks          json.RawMessage `json:"blocks"`
		PrivateMetadata string          `json:"private_metadata"`
		CallbackID      string          `json:"callback_id"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fail("invalid_arguments", "[ERROR] "+err.Error()+" [json-pointer:/view]")
	}
	var problems []string
	if f.Type != "home" {
		problems = append(problems, "[ERROR] must be home [json-pointer:/view/type]")
	}
	if utf8.RuneCountInString(f.PrivateMetadata) > maxPrivateMetadata {
		problems = append(problems, fmt.Sprintf("[ERROR] must be less than %d characters [json-pointer:/view/private_metadata]", maxPrivateMetadata+1))
	}
	if utf8.RuneCountInString(f.CallbackID) > maxCallbackID {
		problems = append(problems, fmt.Sprintf("[ERROR] must be less than %d characters [json-pointer:/view/callback_id]", maxCallbackID+1))
	}
	if len(problems) > 0 {
		return nil, fail("invalid_arguments", problems...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	blocks := json.RawMessage("[]")
	if len(f.Blocks) > 0 {
		nb, err := s.normalizeBlocksLocked(f.Blocks, maxHomeBlocks)
		if err != nil {
			return nil, err
		}
		blocks = nb
	}
	if s.homes == nil {
		s.homes = map[string]*HomeView{}
	}
	h := s.homes[user]
	if h == nil {
		h = &HomeView{ID: fmt.Sprintf("V%09d", s.nextIDLocked()), User: user}
		s.homes[user] = h
	}
	if hash := c.str("hash"); hash != "" && hash != h.Hash {
		return nil, fail("hash_conflict")
	}
	h.Blocks = blocks
	h.Publishes++
	h.Hash = fmt.Sprintf("%d.%08x", s.now().Unix(), uint32(s.nextIDLocked())*2654435761)
	s.notifyLocked()
	return map[string]any{"view": s.wireHomeLocked(h)}, nil
}

// wireHomeLocked is a Home view as views.publish answers and payloads carry it.
func (s *Server) wireHomeLocked(h *HomeView) map[string]any {
	return map[string]any{
		"id": h.ID, "team_id": s.opts.TeamID, "type": "home", "blocks": h.Blocks,
		"private_metadata": "", "callback_id": "", "external_id": "", "hash": h.Hash,
		"state": map[string]any{"values": map[string]any{}}, "app_id": s.opts.AppID, "bot_id": botID,
		"root_view_id": h.ID, "previous_view_id": nil, "app_installed_team_id": s.opts.TeamID,
	}
}

// OpenHome sends the app_home_opened event of user opening the app's Home tab, with
// the view they see when one was published. It returns the envelope ID.
func (s *Server) OpenHome(ctx context.Context, user string) (string, error) {
	s.mu.Lock()
	ev := map[string]any{"user": user, "channel": s.dmLocked(user), "tab": "home"}
	if h, ok := s.homes[user]; ok {
		ev["view"] = s.wireHomeLocked(h)
	}
	s.mu.Unlock()
	return s.Event(ctx, "app_home_opened", ev)
}

// HomeClick is a person pressing a button on their own Home tab.
type HomeClick struct {
	User     string
	ActionID string
	// BlockID narrows the search to one block; any block when empty.
	BlockID string
	// Value must match the button's value when set.
	Value string
}

// ClickHome sends the block_actions envelope of a click on the user's Home tab as
// it is now: the element must be there. As from Slack, the payload has the view and
// a view container, and neither a channel nor a response_url.
func (s *Server) ClickHome(ctx context.Context, c HomeClick) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("clicking %s on the home: %w", c.ActionID, err)
	}
	s.mu.Lock()
	env, err := s.homeClickLocked(c)
	s.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("clicking %s on the home of %s: %w", c.ActionID, c.User, err)
	}
	return s.deliverNew(env)
}

func (s *Server) homeClickLocked(c HomeClick) (*envelope, error) {
	if err := s.canInjectLocked(); err != nil {
		return nil, err
	}
	h, ok := s.homes[c.User]
	if !ok {
		return nil, fmt.Errorf("no home published for %s", c.User)
	}
	el, blockID, err := findAction(h.Blocks, c.ActionID, c.BlockID)
	if err != nil {
		return nil, err
	}
	action, err := actionPayload(el, c.Value)
	if err != nil {
		return nil, err
	}
	action["block_id"] = blockID
	action["action_ts"] = s.nextTSLocked()
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
		"container":             map[string]any{"type": "view", "view_id": h.ID},
		"view":                  s.wireHomeLocked(h),
		"state":                 map[string]any{"values": map[string]any{}},
		"actions":               []any{action},
	}
	env, err := s.newEnvelopeLocked("interactive", payload, false)
	if err != nil {
		return nil, err
	}
	env.user = c.User
	return env, nil
}

// RenderHome renders a Home tab as text, as Render does a message: buttons as
// "[ Label ]", mentions as written.
func RenderHome(h HomeView) string {
	return strings.Join(renderBody(Message{Blocks: h.Blocks}), "\n")
}
