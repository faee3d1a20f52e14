package bot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/slack-go/slack"

	"github.com/medic-ops/medic/recovery"
)

// Poster speaks to Slack's Web API on medic's behalf: it renders domain values into
// Block Kit and posts them.
type Poster struct {
	api *slack.Client
	// wait sleeps d or until ctx ends (tests replace it).
	wait func(ctx context.Context, d time.Duration) error
}

// NewPoster returns a Poster using api. Create api with slack.OptionRetry so 429s are
// retried after their Retry-After.
func NewPoster(api *slack.Client) *Poster { return &Poster{api: api, wait: sleepCtx} }

// maxRateLimitedSends bounds how many times the Poster sends one message that Slack
// keeps refusing with HTTP 429 (api.slack.com/docs/rate-limits: chat.postMessage allows
// about one message per second per channel, and a busy workspace sees 429 for longer).
// slack-go retries each send itself (slack.OptionRetry(3)), so a message is tried at
// most 4×4 times, each after the Retry-After Slack asked for: with Slack's usual
// 1–30 s that outlasts a burst, and the caller's context still bounds it. A 429 means
// Slack did not take the message, so sending it again never posts it twice.
const maxRateLimitedSends = 4

// send runs one Web API call, and runs it again after the Retry-After while Slack
// answers 429, up to maxRateLimitedSends times. The error of the last try is returned.
func (p *Poster) send(ctx context.Context, call func() error) error {
	for n := 1; ; n++ {
		err := call()
		var rl *slack.RateLimitedError
		if !errors.As(err, &rl) || n == maxRateLimitedSends {
			return err
		}
		if werr := p.wait(ctx, max(rl.RetryAfter, time.Second)); werr != nil {
			return err
		}
	}
}

// sleepCtx waits d, or until ctx ends (returning its error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// postMessage is chat.postMessage (or a response_url post) through send; it returns
// the message's ts.
func (p *Poster) postMessage(ctx context.Context, channel string, opts ...slack.MsgOption) (string, error) {
	var ts string
	err := p.send(ctx, func() error {
		var err error
		_, ts, err = p.api.PostMessageContext(ctx, channel, opts...)
		return err
	})
	return ts, err
}

// updateMessage is chat.update through send.
func (p *Poster) updateMessage(ctx context.Context, channel, ts string, opts ...slack.MsgOption) error {
	return p.send(ctx, func() error {
		_, _, _, err := p.api.UpdateMessageContext(ctx, channel, ts, opts...)
		return err
	})
}

// PostStatus posts a status report in channel, naming the user who asked.
func (p *Poster) PostStatus(ctx context.Context, channel, requestedBy string, r recovery.StatusReport) error {
	blocks, fallback := StatusMessage(r, requestedBy)
	if _, err := p.postMessage(ctx, channel,
		slack.MsgOptionBlocks(blocks...), slack.MsgOptionText(fallback, false)); err != nil {
		return fmt.Errorf("posting %s status to %s: %w", r.Env, channel, err)
	}
	return nil
}

// Ephemeral shows text to user only. With a responseURL (from a slash command or a
// click) it answers there, which works even where medic is not a channel member;
// otherwise it uses chat.postEphemeral.
func (p *Poster) Ephemeral(ctx context.Context, channel, user, responseURL, text string) error {
	var err error
	if responseURL != "" {
		_, err = p.postMessage(ctx, channel,
			slack.MsgOptionResponseURL(responseURL, slack.ResponseTypeEphemeral),
			slack.MsgOptionText(text, false))
	} else {
		err = p.send(ctx, func() error {
			_, err := p.api.PostEphemeralContext(ctx, channel, user, slack.MsgOptionText(text, false))
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("answering %s in %s: %w", user, channel, err)
	}
	return nil
}

// GroupMembers lists the members of a Slack user group (usergroups.users.list), for
// roles given to groups.
func (p *Poster) GroupMembers(ctx context.Context, groupID string) ([]string, error) {
	members, err := p.api.GetUserGroupMembersContext(ctx, groupID)
	if err != nil {
		return nil, fmt.Errorf("listing user group %s: %w", groupID, err)
	}
	return members, nil
}
