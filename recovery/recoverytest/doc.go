// Package recoverytest has in-memory fakes of what package recovery depends on, for
// fast tests of its rules, and a Harness that wires them into a real
// recovery.Engine.
//
// The fakes are hand-written, safe for concurrent use, and record every call
// (Recorder: Calls, CallsTo, Count, WaitCalls). Each answers from a little state set
// by its methods (GitHub.AddRun, AWS.SetAlarms, Health.SetStatus …) and has a Func
// field per method that answers instead when set:
//
//   - Clock: a recovery.Clock whose time moves only with Advance, firing the tickers
//     it made (a job's lease renewal, a verification's watch) without sleeping.
//   - Publisher: what medic shows in Slack: the alerts as they stand (Alerts,
//     Alert), each incident's thread (Notes, Texts, Thread), the requests (Requests),
//     the checklists; FailNext makes Slack calls fail; WaitNotes, WaitNote,
//     WaitAlerts and WaitRequest wait for what the engine's goroutines post.
//   - Pager: records each Send with the clock's time and levels; Script sets what
//     each attempt returns (TemporaryError, PermanentError, PartialError).
//   - GitHub, AWS, Health, Terraform (with its Workspace) and Directory (Slack's
//     user groups and names): every other interface of recovery.EngineDeps,
//     ActionDeps, EscalationDeps, ResolutionDeps and DiagSources.
//
// A Harness runs the engine's signal workers over the fakes and a store, with the
// runbook's environments, pipeline, escalation matrix and roles (RunbookEnvironments,
// RunbookPipeline, RunbookEscalation, RunbookRoles, RunbookPolicy) and named users
// (Requester, Approver, Admin, Outsider, GroupMember through OnCallGroup). Its helpers
// drive the engine as medic's webhook, buttons and rounds do:
//
//	h := recoverytest.New(t)
//	in := h.FailJob(t, recovery.JobDeployProd) // the webhook's signal, handled
//	a, _ := h.Publisher.Alert(in.ID)           // the alert as people see it
//	job := h.Approved(t, in.ID, recovery.ActRollback)
//	job = h.WaitJob(t, job.ID)                 // ended, and said so in the thread
//	h.Advance(15*time.Minute + time.Second)    // no sleeping
//	err := h.Escalate(t)                       // one escalation round
//	sends := h.PagerDuty.Sends()
//
// Absence is asserted after the worker provably ran: Submit returns once the signal
// was handled (Handled counts it), so "still one alert" after a second Submit of the
// same fact means the engine looked at it and did nothing.
//
// Time: the clock moves only with Advance; escalation, request expiry and job
// recovery run only when a test calls Escalate, ExpireRequests or RecoverJobs. The
// Wait helpers wait in real time (WaitTimeout) and fail the test saying what they
// waited for.
package recoverytest
