package bot

import (
	"context"
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/medic-ops/medic/recovery"
)

// RequestMessage renders a request for an action: who asks what, on which
// environment, its preview, and Approve/Reject while it waits. It is pure.
func RequestMessage(r recovery.Request) (blocks []slack.Block, fallback string) {
	a, _ := recovery.ActionByID(r.Action)
	head := fmt.Sprintf(":raised_hand: <@%s> requests *%s* on *%s*", r.RequestedBy, esc(a.Label), esc(r.Env))
	if r.IncidentID != "" {
		head += fmt.Sprintf(" for `%s`", esc(r.IncidentID))
	}
	head += fmt.Sprintf(" · `%s`", esc(r.ID))
	var params []string
	if r.Params.SHA != "" {
		params = append(params, "SHA `"+esc(shortSHA(r.Params.SHA))+"`")
	}
	if r.Params.LockID != "" {
		params = append(params, "lock `"+esc(r.Params.LockID)+"`")
	}
	if r.Params.Alarm != "" {
		params = append(params, "alarm `"+esc(r.Params.Alarm)+"`")
	}
	if r.Params.RunID != 0 {
		params = append(params, fmt.Sprintf("run %d", r.Params.RunID))
	}
	if r.Params.Reason != "" {
		params = append(params, "reason: "+esc(cut(recovery.Redact(r.Params.Reason), 300)))
	}
	if len(params) > 0 {
		head += "\n" + strings.Join(params, " · ")
	}
	if r.Params.Override {
		head += fmt.Sprintf("\n:warning: *Admin override by <@%s>:* `%s` was never deployed successfully to %s before; medic only rolls back to versions that were, unless an admin overrides. Read the reason before approving.",
			r.RequestedBy, esc(shortSHA(r.Params.SHA)), esc(r.Env))
	}
	blocks = append(blocks, section(head))
	pv := r.Preview
	if pv.Title != "" || len(pv.Lines) > 0 || pv.Problem != "" {
		if r.PreviewReady && pv.PlanSHA256 != "" && r.State == recovery.RequestPending {
			pv.Lines = append(pv.Lines[:len(pv.Lines):len(pv.Lines)], "Approving approves this plan (sha256 "+pv.PlanSHA256+"), nothing else.")
		}
		text := "*Preview: " + esc(orText(pv.Title, a.Label)) + "*"
		for _, l := range pv.Lines {
			text += "\n• " + esc(l)
		}
		if pv.Problem != "" {
			text += "\n:warning: preview failed: " + esc(pv.Problem)
		}
		blocks = append(blocks, section(text))
	}
	if pv.Detail != "" {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn("```"+escCode(cut(pv.Detail, maxCodeText))+"```"), nil, nil))
	}
	blocks = append(blocks, slack.NewContextBlock("", mrkdwn(requestState(r))))
	if r.State == recovery.RequestPending && r.NeedsApproval && r.PreviewReady {
		approve := slack.NewButtonBlockElement(recovery.ApproveID(), r.ID, plain("Approve"))
		approve.Style = slack.StylePrimary
		reject := slack.NewButtonBlockElement(recovery.RejectID(), r.ID, plain("Reject"))
		reject.Style = slack.StyleDanger
		blocks = append(blocks, slack.NewActionBlock("request:"+r.ID, approve, reject))
	}
	return blocks, fmt.Sprintf("%s requested on %s (%s): %s", a.Label, r.Env, r.ID, r.State)
}

func requestState(r recovery.Request) string {
	switch r.State {
	case recovery.RequestPending:
		if r.NeedsApproval {
			return fmt.Sprintf(":hourglass_flowing_sand: Waiting for an approver other than <@%s> · expires %s", r.RequestedBy, r.ExpiresAt.UTC().Format("15:04 UTC"))
		}
		return ":gear: Self-service: runs without approval"
	case recovery.RequestApproved:
		s := ":white_check_mark: Approved by " + mention(r.DecidedBy) + " at " + r.DecidedAt.UTC().Format("15:04 UTC")
		if r.JobID != "" {
			s += " · job `" + esc(r.JobID) + "`"
		}
		return s
	case recovery.RequestRejected:
		return ":no_entry_sign: Rejected by " + mention(r.DecidedBy) + " at " + r.DecidedAt.UTC().Format("15:04 UTC") + " · nothing was done"
	case recovery.RequestExpired:
		return ":zzz: Expired at " + r.ExpiresAt.UTC().Format("15:04 UTC") + " without an approval · nothing was done"
	case recovery.RequestFailed:
		return ":x: Its preview could not be made, so nobody can approve it · nothing was done · request it again once the problem above is fixed"
	}
	return string(r.State)
}

func mention(id string) string {
	switch id {
	case "policy":
		return "policy (self-service)"
	case "", "medic":
		return "medic"
	}
	return "<@" + id + ">"
}

// PostRequest posts a request in its channel, in its incident's thread when it has one.
func (p *Poster) PostRequest(ctx context.Context, r recovery.Request) (string, error) {
	blocks, fallback := RequestMessage(r)
	opts := []slack.MsgOption{slack.MsgOptionBlocks(blocks...), slack.MsgOptionText(fallback, false)}
	if r.ThreadTS != "" {
		opts = append(opts, slack.MsgOptionTS(r.ThreadTS))
	}
	ts, err := p.postMessage(ctx, r.Channel, opts...)
	if err != nil {
		return "", fmt.Errorf("posting request %s: %w", r.ID, err)
	}
	return ts, nil
}

// UpdateRequest rewrites a request's message.
func (p *Poster) UpdateRequest(ctx context.Context, r recovery.Request) error {
	blocks, fallback := RequestMessage(r)
	if err := p.updateMessage(ctx, r.Channel, r.MessageTS, slack.MsgOptionBlocks(blocks...), slack.MsgOptionText(fallback, false)); err != nil {
		return fmt.Errorf("updating request %s: %w", r.ID, err)
	}
	return nil
}

// Reply posts a note in a thread.
func (p *Poster) Reply(ctx context.Context, channel, threadTS string, n recovery.Note) error {
	blocks, fallback := NoteMessage(n)
	if _, err := p.postMessage(ctx, channel, slack.MsgOptionTS(threadTS),
		slack.MsgOptionBlocks(blocks...), slack.MsgOptionText(cut(fallback, 300), false)); err != nil {
		return fmt.Errorf("replying in %s: %w", channel, err)
	}
	return nil
}

// Slack's view limits (https://api.slack.com/reference/surfaces/views): a title of
// 24 characters, private_metadata of 3,000.
const (
	maxModalTitle  = 24
	maxPrivateMeta = 3000
)

// RequestModal renders the form that asks a restricted action's reason (and, for the
// nuclear ones, the environment's name; for an emergency rollback, the SHA). meta is
// carried back as private_metadata. It is pure.
func RequestModal(meta string, action recovery.ActionID, env, sha string, asks recovery.Asks) slack.ModalViewRequest {
	a, _ := recovery.ActionByID(action)
	var blocks []slack.Block
	intro := fmt.Sprintf("*%s* on *%s*", esc(a.Label), esc(env))
	if a.Runbook != "" {
		intro += "\nThe runbook's command: `" + esc(a.Runbook) + "`"
	}
	intro += "\nmedic shows what it will do before anyone approves."
	if asks.Override != "" {
		intro += fmt.Sprintf("\n:warning: *Override:* `%s` is on the branch but was never deployed successfully to %s. As an admin you may ask for it anyway: the approver sees this override and your reason, and it goes to the audit log.", esc(asks.Override), esc(env))
	}
	blocks = append(blocks, section(intro))
	if action == recovery.ActEmergencyRollback {
		in := slack.NewPlainTextInputBlockElement(plain("commit SHA"), recovery.FormInput)
		in.InitialValue = orText(sha, asks.SHA)
		b := slack.NewInputBlock(recovery.FormSHA, plain("Roll back to SHA"), nil, in)
		if len(asks.KnownSHAs) > 0 {
			var short []string
			for _, s := range asks.KnownSHAs {
				short = append(short, shortSHA(s))
			}
			b.Hint = plain("Known good: " + strings.Join(short, ", "))
		}
		blocks = append(blocks, b)
	}
	if asks.Reason {
		in := slack.NewPlainTextInputBlockElement(plain("why this is needed"), recovery.FormInput)
		in.Multiline = true
		in.MaxLength = 500
		blocks = append(blocks, slack.NewInputBlock(recovery.FormReason, plain("Reason (goes to the audit log)"), nil, in))
	}
	if asks.Override != "" {
		in := slack.NewPlainTextInputBlockElement(plain(asks.Override), recovery.FormInput)
		blocks = append(blocks, slack.NewInputBlock(recovery.FormOverride, plain(fmt.Sprintf("Type %s to override the deploy history", asks.Override)), nil, in))
	}
	if asks.EnvName != "" {
		in := slack.NewPlainTextInputBlockElement(plain(asks.EnvName), recovery.FormInput)
		blocks = append(blocks, slack.NewInputBlock(recovery.FormConfirmEnv, plain(fmt.Sprintf("Type %s to confirm", asks.EnvName)), nil, in))
	}
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      recovery.FormCallback,
		PrivateMetadata: cut(meta, maxPrivateMeta),
		Title:           plain(cut(a.Label, maxModalTitle)),
		Submit:          plain("Request"),
		Close:           plain("Cancel"),
		Blocks:          slack.Blocks{BlockSet: blocks},
	}
}

// OpenRequestModal opens the request form for the user whose click carried triggerID
// (valid for 3 seconds after the click).
func (p *Poster) OpenRequestModal(ctx context.Context, triggerID, meta string, action recovery.ActionID, env, sha string, asks recovery.Asks) error {
	if _, err := p.api.OpenViewContext(ctx, triggerID, RequestModal(meta, action, env, sha, asks)); err != nil {
		return fmt.Errorf("opening the %s form: %w", action, err)
	}
	return nil
}
