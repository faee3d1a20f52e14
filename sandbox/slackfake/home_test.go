package slackfake

import (
	"errors"
	"strings"
	"testing"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

func homeView(blocks ...slack.Block) slack.HomeTabViewRequest {
	return slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: blocks}}
}

// TestViewsPublish: views.publish keeps one Home per user, refuses what Slack
// refuses (another view type, too many blocks, a stale hash) and shows the Home's
// buttons to ClickHome as a view's block_actions, without a channel.
func TestViewsPublish(t *testing.T) {
	s := mustServer(t, Options{})
	api := mustAPI(t, s)
	ctx := mustContext(t)
	approve := slack.NewButtonBlockElement("approve:request", "REQ-1", slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false))
	v := homeView(slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "hi", false, false), nil, nil), slack.NewActionBlock("request:REQ-1", approve))
	if _, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U0BOB", View: v}); err != nil {
		t.Fatal(err)
	}
	first, ok := s.Home("U0BOB")
	if !ok || first.Publishes != 1 || !strings.Contains(RenderHome(first), "[ Approve ]") {
		t.Fatalf("got %+v (%v), want one publish with the button", first, ok)
	}
	stale := first.Hash
	if _, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U0BOB", View: v}); err != nil {
		t.Fatal(err)
	}
	var se slack.SlackErrorResponse
	if _, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U0BOB", View: v, Hash: &stale}); !errors.As(err, &se) || se.Err != "hash_conflict" {
		t.Errorf("a stale hash: got %v, want hash_conflict", err)
	}
	modal := v
	modal.Type = slack.VTModal
	if _, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U0BOB", View: modal}); !errors.As(err, &se) || se.Err != "invalid_arguments" {
		t.Errorf("a modal: got %v, want invalid_arguments", err)
	}
	var many []slack.Block
	for i := 0; i < maxHomeBlocks+1; i++ {
		many = append(many, slack.NewDividerBlock())
	}
	if _, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U0BOB", View: homeView(many...)}); err == nil {
		t.Errorf("%d blocks were published; Slack allows %d", len(many), maxHomeBlocks)
	}
	if h, _ := s.Home("U0BOB"); h.Publishes != 2 || h.ID != first.ID {
		t.Errorf("got %d publishes of view %s, want 2 of %s", h.Publishes, h.ID, first.ID)
	}
	if _, err := s.ClickHome(ctx, HomeClick{User: "U0CAROL", ActionID: "approve:request"}); err == nil {
		t.Error("Carol clicked a button on Bob's Home")
	}

	c := mustClient(t, s, clientOptions{autoAck: true})
	c.next(ctx, t, socketmode.EventTypeHello)
	if _, err := s.ClickHome(ctx, HomeClick{User: "U0BOB", ActionID: "approve:request", Value: "REQ-1"}); err != nil {
		t.Fatal(err)
	}
	cb := c.next(ctx, t, socketmode.EventTypeInteractive).Data.(slack.InteractionCallback)
	if cb.View.Type != slack.VTHomeTab || cb.Channel.ID != "" || cb.ResponseURL != "" || cb.User.ID != "U0BOB" ||
		len(cb.ActionCallback.BlockActions) != 1 || cb.ActionCallback.BlockActions[0].Value != "REQ-1" {
		t.Errorf("the click reads view %q, channel %q, response_url %q, user %q, actions %+v", cb.View.Type, cb.Channel.ID, cb.ResponseURL, cb.User.ID, cb.ActionCallback.BlockActions)
	}
	if _, err := s.OpenHome(ctx, "U0BOB"); err != nil {
		t.Fatal(err)
	}
	ev := c.next(ctx, t, socketmode.EventTypeEventsAPI).Data.(slackevents.EventsAPIEvent)
	opened, ok := ev.InnerEvent.Data.(*slackevents.AppHomeOpenedEvent)
	if !ok || opened.User != "U0BOB" || opened.Tab != "home" || opened.View == nil || opened.View.ID != first.ID {
		t.Errorf("app_home_opened reads %+v", ev.InnerEvent.Data)
	}
}
