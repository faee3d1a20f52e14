package recovery

import "time"

// HomeReport is what medic's Home tab in Slack shows one person: where things stand
// in the environments where they hold a role. It is data only; handlers gathers it
// (deciding what the person may see and approve) and bot renders it.
type HomeReport struct {
	// User is the Slack user ID the Home belongs to.
	User string
	// At is when the report was made.
	At time.Time
	// NoRole says the person holds no role in any environment: the Home shows them
	// nothing of medic's incidents, requests or people, only how to get a role.
	NoRole bool
	// Approvals are the pending requests the person may approve now: they hold the
	// approver role in its environment, did not request it, and its preview is in.
	// Approve and Reject are offered for these only; the click is checked again.
	Approvals []Request
	// Waiting are the other pending requests of the person's environments (their
	// own, those whose preview is not ready, those they may not approve), shown
	// without buttons.
	Waiting []Request
	// Envs are the person's environments, in the configured order.
	Envs []HomeEnv
	// Levels are the escalation levels, in order of name, with who is in each.
	Levels []Level
	// Problems says, one line each, what could not be read.
	Problems []string
}

// HomeEnv is one environment as the Home tab shows it.
type HomeEnv struct {
	Name string
	// Incidents are its open incidents, most severe and newest first.
	Incidents Section[[]Incident]
	// Escalation holds each open incident's escalation line (EscalationText), by ID.
	Escalation map[string]string
	// Jobs are its pending and running jobs.
	Jobs Section[[]Job]
	// LastGood is its last known good deploy, from the reads /status shares.
	LastGood Section[*Deploy]
}
