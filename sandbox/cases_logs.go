package sandbox

import (
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/medic-ops/medic/sandbox/githubfake"
)

// The job logs of the failure cases live in logs/ as templates, one per job, in the
// form GitHub Actions serves them once the timestamps are added. A template is plain
// log text plus a few directives, each on a line of its own starting with "#! ":
//
//	#! job <name>                 the job's name (exactly one per template)
//	#! step <conclusion> <name>   a step begins: success, failure, cancelled, skipped,
//	                              in_progress (the job is still running) or queued
//	#! wait <duration>            time passes (time.ParseDuration syntax)
//	#! set <key> <value>          defines {{key}} for the lines that follow
//	#! include <partial>          inserts logs/_<partial>.log (placeholders allowed)
//	#! artifact <key> <size> <name>  the job uploads an artifact; {{key}} is its ID
//	#! mark <key>                 {{key}} is now, as Terraform prints a lock's Created
//	#! rem <text>                 a comment
//
// Every other line is one log line; the renderer prefixes it with the runner's
// timestamp (RFC 3339, 7 fractional digits, "2025-11-20T10:04:12.3456789Z "). A line
// starting with "$ " is a line of a run step's script, which the runner echoes in cyan
// ("\x1b[36;1m…\x1b[0m") right after "##[group]Run …". {{key}} placeholders take the
// values of the case being staged; these are computed per line:
//
//	{{clock}}       the line's time, RFC 3339 with milliseconds
//	{{clock_http}}  the line's time as an HTTP Date header
//	{{rid}}         a fresh AWS request ID (UUID form)
//	{{ddb_rid}}     a fresh DynamoDB request ID (52 characters)
//
// Files whose names start with "_" are partials; the others are the exported logs.

//go:embed logs/*.log
var logFiles embed.FS

// logTimeLayout is the runner's timestamp: RFC 3339 in UTC with 100 ns precision.
const logTimeLayout = "2006-01-02T15:04:05.0000000Z"

// logVars are the values of a template's {{placeholders}}.
type logVars map[string]string

// jobLog is a rendered template: the log text and what the Actions API shows of the job.
type jobLog struct {
	job        string
	text       string
	steps      []githubfake.Step
	start, end time.Time
	// status is completed or in_progress; conclusion is set once completed.
	status, conclusion string
	// marks are the times "#! mark" recorded.
	marks map[string]time.Time
}

var placeholder = regexp.MustCompile(`\{\{([a-z0-9_]+)\}\}`)

// maxIncludeDepth bounds nested includes, so a partial that includes itself is an error.
const maxIncludeDepth = 4

// LogNames lists the job logs Log can render, sorted.
func LogNames() []string {
	entries, err := fs.ReadDir(logFiles, "logs")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".log")
		if ok && !strings.HasPrefix(name, "_") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// Log returns the job log called name (one of LogNames) as GitHub's log download
// serves it, rendered with fixed sample values: commit SHAs, lock IDs, request IDs and
// timestamps from 2025-11-20T10:00:00Z. Classifier and parser tests use it; the cases
// render the same templates with the values of the world they stage. It panics on an
// unknown name, a mistake in the calling test.
func Log(name string) string {
	l, err := renderLog(name, sampleLogStart, sampleLogVars(), nil)
	if err != nil {
		panic(fmt.Sprintf("sandbox.Log: %v (known logs: %s)", err, strings.Join(LogNames(), ", ")))
	}
	return l.text
}

// sampleLogStart is when the jobs rendered by Log start.
var sampleLogStart = time.Date(2025, 11, 20, 10, 0, 0, 0, time.UTC)

// sampleLogVars are the placeholder values Log renders with. Every value a case sets is
// here, so each template renders on its own.
func sampleLogVars() logVars {
	v := logVars{
		"repo":         "traylorre/sentiment-analyzer-gsk",
		"repo_name":    "sentiment-analyzer-gsk",
		"branch":       "main",
		"sha":          "3f6c1e2d9a8b7c6d5e4f30211a0b9c8d7e6f5a4b",
		"prev_sha":     "9b2e4d6f8a0c1e3f5a7b9c1d3e5f7a9b1c3d5e7f",
		"run_id":       "11000000042",
		"run_number":   "218",
		"account":      sandboxAccount,
		"state_bucket": stateBucket,
		"artifact_id":  "1500000042",
		"runner_name":  "GitHub Actions 1000123456",
		"runner_who":   "runner@fv-az1152-345",
		"lock_id":      "7d9e4c21-5b8a-f3e0-1c6d-2a4b8e0f9c37",
		"lock_who":     "runner@fv-az512-38",
		"lock_created": lockTime(sampleLogStart.Add(-26*time.Minute - 13*time.Second - 482913*time.Microsecond)),
		"contender_id": "e41b07c9-3a2d-58f6-9b1e-c07d4a62f8e5",
	}
	v["short_sha"] = v["sha"][:7]
	v["contender_created"] = lockTime(sampleLogStart.Add(2*time.Minute + 4*time.Second + 917204*time.Microsecond))
	v["rollback_plan"] = "rollback-plan-3"
	v["health_body"] = canaryHealthBody(v["sha"])
	v["health_length"] = strconv.Itoa(len(v["health_body"]))
	v["kms_error"] = kmsFailure
	return v
}

// lockTime formats a lock's creation time as Terraform prints it in "Lock Info:"
// (time.Time's String in UTC, e.g. "2025-11-20 10:04:12.123456789 +0000 UTC").
func lockTime(t time.Time) string { return t.UTC().String() }

// renderLog renders template name for a job that starts at start. upload records an
// artifact the job uploads and returns its ID; nil numbers them from a sample ID.
func renderLog(name string, start time.Time, vars logVars, upload func(name string, size int64) int64) (jobLog, error) {
	if upload == nil {
		next := int64(1500000041)
		upload = func(string, int64) int64 { next++; return next - 1 }
	}
	r := &logRenderer{
		name:   name,
		vars:   make(logVars, len(vars)+4),
		clock:  start.UTC(),
		rand:   seedFor(name + "\x00" + vars["sha"]),
		upload: upload,
		marks:  map[string]time.Time{},
		open:   -1,
	}
	for k, v := range vars {
		r.vars[k] = v
	}
	if err := r.file("logs/"+name+".log", 0); err != nil {
		return jobLog{}, fmt.Errorf("rendering log %s: %w", name, err)
	}
	return r.finish()
}

// logRenderer walks a template once, advancing a clock line by line.
type logRenderer struct {
	name   string
	vars   logVars
	clock  time.Time
	rand   uint64
	upload func(name string, size int64) int64
	marks  map[string]time.Time
	out    strings.Builder
	job    string
	steps  []githubfake.Step
	// open is the index of the step whose lines are being written, -1 for none.
	open    int
	started bool
	start   time.Time
}

func (r *logRenderer) file(path string, depth int) error {
	if depth > maxIncludeDepth {
		return fmt.Errorf("%s: includes nested deeper than %d", path, maxIncludeDepth)
	}
	b, err := logFiles.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading template: %w", err)
	}
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if err := r.line(line, depth); err != nil {
			return fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
	}
	return nil
}

func (r *logRenderer) line(line string, depth int) error {
	directive, ok := strings.CutPrefix(line, "#! ")
	if !ok {
		return r.emit(line)
	}
	verb, arg, _ := strings.Cut(directive, " ")
	switch verb {
	case "job":
		r.job = arg
		r.vars["job_name"] = arg
	case "step":
		arg, err := r.substitute(arg)
		if err != nil {
			return err
		}
		conclusion, name, ok := strings.Cut(arg, " ")
		if !ok || name == "" {
			return fmt.Errorf("step needs a conclusion and a name: %q", arg)
		}
		return r.step(conclusion, name)
	case "wait":
		d, err := time.ParseDuration(arg)
		if err != nil {
			return fmt.Errorf("wait: %w", err)
		}
		r.clock = r.clock.Add(d)
	case "set":
		k, v, _ := strings.Cut(arg, " ")
		v, err := r.substitute(v)
		if err != nil {
			return err
		}
		r.vars[k] = v
	case "include":
		partial, err := r.substitute(arg)
		if err != nil {
			return err
		}
		return r.file("logs/_"+partial+".log", depth+1)
	case "artifact":
		fields := strings.SplitN(arg, " ", 3)
		if len(fields) != 3 {
			return fmt.Errorf("artifact needs a key, a size and a name: %q", arg)
		}
		spec, err := r.substitute(fields[1] + " " + fields[2])
		if err != nil {
			return err
		}
		sizeText, name, _ := strings.Cut(spec, " ")
		size, err := strconv.ParseInt(sizeText, 10, 64)
		if err != nil {
			return fmt.Errorf("artifact size: %w", err)
		}
		r.vars[fields[0]] = strconv.FormatInt(r.upload(name, size), 10)
	case "mark":
		r.vars[arg] = lockTime(r.clock)
		r.marks[arg] = r.clock
	case "rem":
	default:
		return fmt.Errorf("unknown directive %q", verb)
	}
	return nil
}

// step closes the open step and begins the next one.
func (r *logRenderer) step(conclusion, name string) error {
	r.closeStep()
	st := githubfake.Step{Name: name, Number: int64(len(r.steps) + 1)}
	switch conclusion {
	case "success", "failure", "cancelled":
		st.Status, st.Conclusion = "in_progress", conclusion // completed by closeStep
		st.StartedAt = r.tick()
		r.markStarted(st.StartedAt)
		r.open = len(r.steps)
	case "skipped":
		st.Status, st.Conclusion = "completed", "skipped"
		st.StartedAt, st.CompletedAt = r.clock, r.clock
		r.open = -1
	case "in_progress":
		st.Status = "in_progress"
		st.StartedAt = r.tick()
		r.markStarted(st.StartedAt)
		r.open = -1
	case "queued":
		st.Status = "queued"
		r.open = -1
	default:
		return fmt.Errorf("step %q: unknown conclusion %q", name, conclusion)
	}
	r.steps = append(r.steps, st)
	return nil
}

func (r *logRenderer) closeStep() {
	if len(r.steps) > 0 && r.open == len(r.steps)-1 {
		st := &r.steps[r.open]
		st.Status, st.CompletedAt = "completed", r.tick()
	}
	r.open = -1
}

func (r *logRenderer) markStarted(t time.Time) {
	if !r.started {
		r.started, r.start = true, t
	}
}

// emit writes one template line, which placeholders may have turned into several.
func (r *logRenderer) emit(line string) error {
	script := false
	if rest, ok := strings.CutPrefix(line, "$ "); ok {
		line, script = rest, true
	}
	text, err := r.substitute(line)
	if err != nil {
		return err
	}
	for _, l := range strings.Split(text, "\n") {
		t := r.tick()
		r.markStarted(t)
		if script {
			l = "\x1b[36;1m" + l + "\x1b[0m"
		}
		r.out.WriteString(t.Format(logTimeLayout))
		r.out.WriteByte(' ')
		r.out.WriteString(l)
		r.out.WriteByte('\n')
	}
	return nil
}

func (r *logRenderer) substitute(s string) (string, error) {
	var missing []string
	out := placeholder.ReplaceAllStringFunc(s, func(m string) string {
		key := m[2 : len(m)-2]
		switch key {
		case "clock":
			return r.clock.Format("2006-01-02T15:04:05.000Z")
		case "clock_http":
			return r.clock.Format(http.TimeFormat)
		case "rid":
			return r.requestID()
		case "ddb_rid":
			return r.dynamoRequestID()
		}
		v, ok := r.vars[key]
		if !ok {
			missing = append(missing, key)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("no value for {{%s}}", strings.Join(missing, "}}, {{"))
	}
	return out, nil
}

func (r *logRenderer) finish() (jobLog, error) {
	if r.job == "" {
		return jobLog{}, fmt.Errorf("rendering log %s: no \"#! job\" directive", r.name)
	}
	if len(r.steps) == 0 {
		return jobLog{}, fmt.Errorf("rendering log %s: no steps", r.name)
	}
	r.closeStep()
	l := jobLog{job: r.job, text: r.out.String(), steps: r.steps, start: r.start, end: r.clock, marks: r.marks}
	running, failed, cancelled := false, false, false
	for i := range l.steps {
		st := &l.steps[i]
		st.StartedAt, st.CompletedAt = st.StartedAt.Truncate(time.Second), st.CompletedAt.Truncate(time.Second)
		switch {
		case st.Status == "in_progress" || st.Status == "queued":
			running = true
		case st.Conclusion == "failure":
			failed = true
		case st.Conclusion == "cancelled":
			cancelled = true
		}
	}
	switch {
	case running:
		l.status = "in_progress"
	case failed:
		l.status, l.conclusion = "completed", "failure"
	case cancelled:
		l.status, l.conclusion = "completed", "cancelled"
	default:
		l.status, l.conclusion = "completed", "success"
	}
	return l, nil
}

// tick advances the clock by a few milliseconds, as consecutive log lines are apart,
// and returns it. The steps are deterministic: a template renders the same way for the
// same values.
func (r *logRenderer) tick() time.Time {
	r.clock = r.clock.Add(time.Duration(50+r.next()%7000) * time.Microsecond).Add(time.Duration(r.next()%10) * 100 * time.Nanosecond)
	return r.clock
}

// next is a 64-bit linear congruential generator (Knuth's MMIX constants).
func (r *logRenderer) next() uint64 {
	r.rand = r.rand*6364136223846793005 + 1442695040888963407
	return r.rand >> 33
}

func (r *logRenderer) requestID() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(r.next())
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (r *logRenderer) dynamoRequestID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 52)
	for i := range b {
		b[i] = alphabet[r.next()%uint64(len(alphabet))]
	}
	return string(b)
}

func seedFor(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}
