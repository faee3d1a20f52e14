package githubfake

import (
	"fmt"
	"strings"
)

// lineOp is one line of an edit script: ' ' kept, '-' removed, '+' added.
type lineOp struct {
	kind byte
	text string
}

// maxDiffCells bounds the LCS table; larger files diff as "all removed, all added".
const maxDiffCells = 4_000_000

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// lineDiff returns an edit script turning a into b, by longest common subsequence.
func lineDiff(a, b []string) []lineOp {
	var head, tail []lineOp
	for len(a) > 0 && len(b) > 0 && a[0] == b[0] {
		head = append(head, lineOp{' ', a[0]})
		a, b = a[1:], b[1:]
	}
	for len(a) > 0 && len(b) > 0 && a[len(a)-1] == b[len(b)-1] {
		tail = append([]lineOp{{' ', a[len(a)-1]}}, tail...)
		a, b = a[:len(a)-1], b[:len(b)-1]
	}
	var mid []lineOp
	if (len(a)+1)*(len(b)+1) > maxDiffCells {
		for _, l := range a {
			mid = append(mid, lineOp{'-', l})
		}
		for _, l := range b {
			mid = append(mid, lineOp{'+', l})
		}
	} else {
		// lcs[i][j] is the LCS length of a[i:] and b[j:].
		lcs := make([][]int, len(a)+1)
		for i := range lcs {
			lcs[i] = make([]int, len(b)+1)
		}
		for i := len(a) - 1; i >= 0; i-- {
			for j := len(b) - 1; j >= 0; j-- {
				if a[i] == b[j] {
					lcs[i][j] = lcs[i+1][j+1] + 1
				} else {
					lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
				}
			}
		}
		i, j := 0, 0
		for i < len(a) || j < len(b) {
			switch {
			case i < len(a) && j < len(b) && a[i] == b[j]:
				mid = append(mid, lineOp{' ', a[i]})
				i, j = i+1, j+1
			case j < len(b) && (i == len(a) || lcs[i][j+1] > lcs[i+1][j]):
				mid = append(mid, lineOp{'+', b[j]})
				j++
			default:
				mid = append(mid, lineOp{'-', a[i]})
				i++
			}
		}
	}
	return append(append(head, mid...), tail...)
}

// unifiedPatch renders an edit script as the hunks of a unified diff with three lines of
// context, the "patch" field GitHub sends for each file.
func unifiedPatch(ops []lineOp) string {
	const context = 3
	// oldAt[k] and newAt[k] count the old and new lines before ops[k].
	oldAt := make([]int, len(ops)+1)
	newAt := make([]int, len(ops)+1)
	for k, op := range ops {
		oldAt[k+1], newAt[k+1] = oldAt[k], newAt[k]
		if op.kind != '+' {
			oldAt[k+1]++
		}
		if op.kind != '-' {
			newAt[k+1]++
		}
	}
	rng := func(start, count int) string {
		if count == 1 {
			return fmt.Sprint(start + 1)
		}
		if count == 0 {
			return fmt.Sprintf("%d,0", start)
		}
		return fmt.Sprintf("%d,%d", start+1, count)
	}
	var b strings.Builder
	i := 0
	for i < len(ops) {
		for i < len(ops) && ops[i].kind == ' ' {
			i++
		}
		if i == len(ops) {
			break
		}
		start := max(0, i-context)
		end := i
		for {
			for end < len(ops) && ops[end].kind != ' ' {
				end++
			}
			j := end
			for j < len(ops) && ops[j].kind == ' ' {
				j++
			}
			if j < len(ops) && j-end <= 2*context {
				end = j
				continue
			}
			end = min(len(ops), end+context)
			break
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "@@ -%s +%s @@", rng(oldAt[start], oldAt[end]-oldAt[start]), rng(newAt[start], newAt[end]-newAt[start]))
		for _, op := range ops[start:end] {
			b.WriteByte('\n')
			b.WriteByte(op.kind)
			b.WriteString(op.text)
		}
		i = end
	}
	return b.String()
}
