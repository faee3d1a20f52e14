package bot

import (
	"context"
	"fmt"

	"github.com/slack-go/slack"

	"github.com/medic-ops/medic/recovery"
)

// Poster speaks to Slack's Web API on medic's behalf: it renders domain values into
// Block Kit and posts them.
type Poster struct {
	api *slack.Client
}

// NewPoster returns a Poster using api. Create api with slack.OptionRetry so 429s are
// retried after their Retry-After.
func NewPoster(api *slack.Client) *Poster { return &Poster{api: api} }

// PostStatus posts a status report in channel, naming the user who asked.
func (p *Poster) PostStatus(ctx context.Context, channel, requestedBy string, r recovery.StatusReport) error {
	blocks, fallback := StatusMessage(r, requestedBy)
	if _, _, err := p.api.PostMessageContext(ctx, channel,
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
		_, _, err = p.api.PostMessageContext(ctx, channel,
			slack.MsgOptionResponseURL(responseURL, slack.ResponseTypeEphemeral),
			slack.MsgOptionText(text, false))
	} else {
		_, err = p.api.PostEphemeralContext(ctx, channel, user, slack.MsgOptionText(text, false))
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
