package slackfake

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Block Kit limits the fake enforces, as Slack does, by refusing the message with
// invalid_blocks (docs.slack.dev/reference/block-kit/blocks and the pages of each
// block and element).
const (
	// maxMessageBlocks: a message carries up to 50 blocks (chat.postMessage "blocks").
	maxMessageBlocks = 50
	// maxModalBlocks: a modal carries up to 100 blocks (reference/views/modal-views).
	maxModalBlocks = 100
	// maxBlockID, maxActionID: block_id and action_id are up to 255 characters.
	maxBlockID  = 255
	maxActionID = 255
	// maxSectionText: a section's text is up to 3,000 characters.
	maxSectionText = 3000
	// maxSectionFields, maxFieldText: up to 10 fields of up to 2,000 characters.
	maxSectionFields = 10
	maxFieldText     = 2000
	// maxHeaderText: a header's plain_text is up to 150 characters.
	maxHeaderText = 150
	// maxActionsElements: an actions block holds up to 25 elements.
	maxActionsElements = 25
	// maxContextElements: a context block holds up to 10 elements.
	maxContextElements = 10
	// maxButtonText, maxButtonValue: a button's text is up to 75 characters, its value
	// up to 2,000.
	maxButtonText  = 75
	maxButtonValue = 2000
	// maxLabelText: an input block's label is up to 2,000 characters.
	maxLabelText = 2000
)

// kitText is a composition text object {"type":"plain_text|mrkdwn","text":…}.
type kitText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// kitOption is an option of a select, overflow, radio or checkbox element.
type kitOption struct {
	Text        kitText  `json:"text"`
	Value       string   `json:"value"`
	Description *kitText `json:"description,omitempty"`
}

// kitBlock is the part of a layout block the fake reads.
type kitBlock struct {
	Type      string       `json:"type"`
	BlockID   string       `json:"block_id"`
	Text      kitTextField `json:"text"`
	Fields    []kitText    `json:"fields"`
	Accessory *kitElement  `json:"accessory"`
	Elements  []kitElement `json:"elements"`
	Label     *kitText     `json:"label"`
	Element   *kitElement  `json:"element"`
	Optional  bool         `json:"optional"`
	Hint      *kitText     `json:"hint"`
	AltText   string       `json:"alt_text"`
	Title     *kitText     `json:"title"`

	// bad is the decoding error of a block whose fields have unexpected shapes.
	bad error
}

// kitTextField is a block's "text": a text object in most blocks, a plain string in
// a markdown block.
type kitTextField struct {
	*kitText
}

// UnmarshalJSON accepts a text object or a string.
func (f *kitTextField) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		f.kitText = &kitText{Type: "markdown", Text: s}
		return nil
	}
	if string(b) == "null" {
		f.kitText = nil
		return nil
	}
	var t kitText
	if err := json.Unmarshal(b, &t); err != nil {
		return err
	}
	f.kitText = &t
	return nil
}

// kitElement is the part of a block element, context element or rich text element the
// fake reads. Text and Style are raw because their shape depends on the type: a
// button's text is a text object and its style a string, a rich text element's text is
// a string and its style an object.
type kitElement struct {
	Type          string          `json:"type"`
	Text          json.RawMessage `json:"text"`
	ActionID      string          `json:"action_id"`
	Value         string          `json:"value"`
	Style         json.RawMessage `json:"style"`
	URL           string          `json:"url"`
	Placeholder   *kitText        `json:"placeholder"`
	Options       []kitOption     `json:"options"`
	InitialOption *kitOption      `json:"initial_option"`
	// InitialOptions are the boxes a checkbox group shows ticked.
	InitialOptions []kitOption  `json:"initial_options"`
	InitialDate    string       `json:"initial_date"`
	InitialValue   string       `json:"initial_value"`
	AltText        string       `json:"alt_text"`
	Elements       []kitElement `json:"elements"`
	Indent         int          `json:"indent"`
	UserID         string       `json:"user_id"`
	ChannelID      string       `json:"channel_id"`
	UsergroupID    string       `json:"usergroup_id"`
	Name           string       `json:"name"`
	Range          string       `json:"range"`
	Multiline      bool         `json:"multiline"`
}

// text returns the element's text whether it is a string or a text object.
func (e kitElement) text() string {
	if len(e.Text) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(e.Text, &s) == nil {
		return s
	}
	var t kitText
	if json.Unmarshal(e.Text, &t) == nil {
		return t.Text
	}
	return ""
}

// style returns the element's style when it is a string ("primary", "danger",
// "bullet", "ordered"), "" otherwise.
func (e kitElement) style() string {
	var s string
	if json.Unmarshal(e.Style, &s) == nil {
		return s
	}
	return ""
}

// knownBlocks are the block types whose fields the fake checks; a block of another
// type is passed through unchecked (Block Kit keeps growing).
var knownBlocks = map[string]bool{
	"section": true, "header": true, "actions": true, "context": true, "divider": true,
	"input": true, "rich_text": true, "image": true,
}

// parseBlocks decodes a Block Kit array. A block whose fields have unexpected shapes
// keeps its type and records the problem in bad.
func parseBlocks(raw json.RawMessage) ([]kitBlock, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("decoding blocks: %w", err)
	}
	blocks := make([]kitBlock, len(items))
	for i, item := range items {
		if err := json.Unmarshal(item, &blocks[i]); err != nil {
			var head struct {
				Type    string `json:"type"`
				BlockID string `json:"block_id"`
			}
			if herr := json.Unmarshal(item, &head); herr != nil {
				return nil, fmt.Errorf("decoding block %d: %w", i, herr)
			}
			blocks[i] = kitBlock{Type: head.Type, BlockID: head.BlockID, bad: err}
		}
	}
	return blocks, nil
}

// normalizeBlocksLocked checks blocks against Slack's limits and gives every block
// without a block_id one, as Slack does when it stores a message: the block_actions
// payload of a click then always carries a string block_id. An empty array gives nil.
func (s *Server) normalizeBlocksLocked(raw json.RawMessage, maxBlocks int) (json.RawMessage, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fail("invalid_blocks_format")
	}
	if len(items) == 0 {
		return nil, nil
	}
	blocks, err := parseBlocks(raw)
	if err != nil {
		return nil, fail("invalid_blocks_format")
	}
	if problems := validateBlocks(blocks, maxBlocks); len(problems) > 0 {
		return nil, fail("invalid_blocks", problems...)
	}
	for i, b := range blocks {
		if b.BlockID != "" {
			continue
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(items[i], &fields); err != nil {
			return nil, fail("invalid_blocks", fmt.Sprintf("[ERROR] %v [json-pointer:/blocks/%d]", err, i))
		}
		id, _ := json.Marshal(strconv.FormatInt(int64(s.nextIDLocked())*7919+46656, 36))
		fields["block_id"] = id
		b, err := json.Marshal(fields)
		if err != nil {
			return nil, fmt.Errorf("encoding block %d: %w", i, err)
		}
		items[i] = b
	}
	out, err := json.Marshal(items)
	if err != nil {
		return nil, fmt.Errorf("encoding blocks: %w", err)
	}
	return out, nil
}

// validateBlocks returns Slack-style "[ERROR] … [json-pointer:…]" lines for every
// limit the blocks break.
func validateBlocks(blocks []kitBlock, maxBlocks int) []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, "[ERROR] "+fmt.Sprintf(format, args...)) }
	tooLong := func(s string, limit int) bool { return utf8.RuneCountInString(s) > limit }
	if len(blocks) > maxBlocks {
		add("no more than %d items allowed [json-pointer:/blocks]", maxBlocks)
	}
	seenBlock := map[string]bool{}
	for i, b := range blocks {
		at := fmt.Sprintf("/blocks/%d", i)
		if b.Type == "" {
			add("missing required field: type [json-pointer:%s]", at)
		}
		if b.bad != nil && knownBlocks[b.Type] {
			add("%v [json-pointer:%s]", b.bad, at)
		}
		if b.BlockID != "" {
			if seenBlock[b.BlockID] {
				add("duplicate block_id %q [json-pointer:%s/block_id]", b.BlockID, at)
			}
			seenBlock[b.BlockID] = true
			if tooLong(b.BlockID, maxBlockID) {
				add("must be less than %d characters [json-pointer:%s/block_id]", maxBlockID+1, at)
			}
		}
		switch b.Type {
		case "section":
			if b.Text.kitText == nil && len(b.Fields) == 0 {
				add("must provide text or fields [json-pointer:%s]", at)
			}
			if b.Text.kitText != nil && tooLong(b.Text.Text, maxSectionText) {
				add("must be less than %d characters [json-pointer:%s/text/text]", maxSectionText+1, at)
			}
			if len(b.Fields) > maxSectionFields {
				add("no more than %d items allowed [json-pointer:%s/fields]", maxSectionFields, at)
			}
			for j, f := range b.Fields {
				if tooLong(f.Text, maxFieldText) {
					add("must be less than %d characters [json-pointer:%s/fields/%d/text]", maxFieldText+1, at, j)
				}
			}
			if b.Accessory != nil {
				p = append(p, validateElement(*b.Accessory, at+"/accessory")...)
			}
		case "header":
			if b.Text.kitText == nil || b.Text.Type != "plain_text" {
				add("must provide a plain_text text [json-pointer:%s/text]", at)
			} else if tooLong(b.Text.Text, maxHeaderText) {
				add("must be less than %d characters [json-pointer:%s/text/text]", maxHeaderText+1, at)
			}
		case "actions":
			if len(b.Elements) > maxActionsElements {
				add("no more than %d items allowed [json-pointer:%s/elements]", maxActionsElements, at)
			}
			seenAction := map[string]bool{}
			for j, e := range b.Elements {
				if e.ActionID != "" && seenAction[e.ActionID] {
					add("duplicate action_id %q [json-pointer:%s/elements/%d/action_id]", e.ActionID, at, j)
				}
				seenAction[e.ActionID] = true
				p = append(p, validateElement(e, fmt.Sprintf("%s/elements/%d", at, j))...)
			}
		case "context":
			if len(b.Elements) > maxContextElements {
				add("no more than %d items allowed [json-pointer:%s/elements]", maxContextElements, at)
			}
		case "input":
			if b.Label == nil {
				add("missing required field: label [json-pointer:%s]", at)
			} else if tooLong(b.Label.Text, maxLabelText) {
				add("must be less than %d characters [json-pointer:%s/label/text]", maxLabelText+1, at)
			}
			if b.Element == nil {
				add("missing required field: element [json-pointer:%s]", at)
			} else {
				p = append(p, validateElement(*b.Element, at+"/element")...)
			}
		}
	}
	return p
}

// validateElement checks one interactive element.
func validateElement(e kitElement, at string) []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, "[ERROR] "+fmt.Sprintf(format, args...)) }
	if utf8.RuneCountInString(e.ActionID) > maxActionID {
		add("must be less than %d characters [json-pointer:%s/action_id]", maxActionID+1, at)
	}
	if e.Type == "button" {
		if e.text() == "" {
			add("missing required field: text [json-pointer:%s]", at)
		}
		if utf8.RuneCountInString(e.text()) > maxButtonText {
			add("must be less than %d characters [json-pointer:%s/text/text]", maxButtonText+1, at)
		}
		if utf8.RuneCountInString(e.Value) > maxButtonValue {
			add("must be less than %d characters [json-pointer:%s/value]", maxButtonValue+1, at)
		}
		if st := e.style(); st != "" && st != "primary" && st != "danger" {
			add("must be one of primary, danger [json-pointer:%s/style]", at)
		}
	}
	return p
}

// findAction finds the interactive element a click targets in a message's blocks:
// the element with actionID, in the block blockID when it is not empty. It returns
// the element's block_id.
func findAction(raw json.RawMessage, actionID, blockID string) (kitElement, string, error) {
	blocks, err := parseBlocks(raw)
	if err != nil {
		return kitElement{}, "", err
	}
	for _, b := range blocks {
		if blockID != "" && b.BlockID != blockID {
			continue
		}
		var candidates []kitElement
		switch b.Type {
		case "actions":
			candidates = b.Elements
		case "section":
			if b.Accessory != nil {
				candidates = []kitElement{*b.Accessory}
			}
		case "input":
			if b.Element != nil {
				candidates = []kitElement{*b.Element}
			}
		}
		for _, e := range candidates {
			if e.ActionID == actionID {
				return e, b.BlockID, nil
			}
		}
	}
	if blockID != "" {
		return kitElement{}, "", fmt.Errorf("no element with action_id %q in block %q", actionID, blockID)
	}
	return kitElement{}, "", fmt.Errorf("no element with action_id %q", actionID)
}

// findOption returns the option of e whose value is value.
func findOption(e kitElement, value string) (kitOption, bool) {
	for _, o := range e.Options {
		if o.Value == value {
			return o, true
		}
	}
	return kitOption{}, false
}
