package hashing

import (
	"fmt"
	"regexp/syntax"
	"slices"
)

// digitDFA is a deterministic automaton over the digits 0-9 built from a
// regular expression, for libphonenumber's patterns: it answers the same
// questions as the compiled regexp (full match, match at the start) with a
// table walk of one step per digit and no allocation.
type digitDFA struct {
	next   [][10]int32 // -1: dead
	accept []bool      // the pattern matches when the input ends here
	seen   []bool      // the pattern has matched a prefix ending here
}

// compileDigitDFA builds the automaton eagerly; phone patterns are small.
func compileDigitDFA(pattern string) (*digitDFA, error) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, err
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, err
	}
	d := &digitDFA{}
	index := map[string]int32{}
	var queue [][]int
	add := func(set []int) int32 {
		k := fmt.Sprint(set)
		if id, ok := index[k]; ok {
			return id
		}
		id := int32(len(d.next))
		index[k] = id
		d.next = append(d.next, [10]int32{})
		d.accept = append(d.accept, closureMatches(prog, set, true))
		d.seen = append(d.seen, closureMatches(prog, set, false))
		queue = append(queue, set)
		return id
	}
	add(closure(prog, []int{prog.Start}, true))
	for i := 0; i < len(queue); i++ {
		set := queue[i]
		for digit := 0; digit < 10; digit++ {
			var moved []int
			for _, pc := range set {
				in := &prog.Inst[pc]
				switch in.Op {
				case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
					if in.MatchRune(rune('0' + digit)) {
						moved = append(moved, int(in.Out))
					}
				}
			}
			if len(moved) == 0 {
				d.next[i][digit] = -1
				continue
			}
			d.next[i][digit] = add(closure(prog, moved, false))
		}
		if len(d.next) > 1<<14 {
			return nil, fmt.Errorf("pattern %q: automaton too large", pattern)
		}
	}
	return d, nil
}

// closure follows empty transitions from pcs; beginning-of-text assertions
// hold only at the start, end-of-text ones are kept for closureMatches.
func closure(prog *syntax.Prog, pcs []int, atStart bool) []int {
	seen := map[int]bool{}
	var out []int
	var visit func(int)
	visit = func(pc int) {
		if seen[pc] {
			return
		}
		seen[pc] = true
		in := &prog.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			visit(int(in.Out))
			visit(int(in.Arg))
		case syntax.InstCapture, syntax.InstNop:
			visit(int(in.Out))
		case syntax.InstEmptyWidth:
			op := syntax.EmptyOp(in.Arg)
			if op&^(syntax.EmptyBeginText|syntax.EmptyBeginLine) == 0 {
				if atStart {
					visit(int(in.Out))
				}
				return
			}
			out = append(out, pc) // an end assertion: decided when the input ends
		case syntax.InstFail:
		default:
			out = append(out, pc)
		}
	}
	for _, pc := range pcs {
		visit(pc)
	}
	slices.Sort(out)
	return out
}

// closureMatches reports whether set reaches Match; atEnd lets end-of-text
// assertions pass.
func closureMatches(prog *syntax.Prog, set []int, atEnd bool) bool {
	for _, pc := range set {
		in := &prog.Inst[pc]
		switch in.Op {
		case syntax.InstMatch:
			return true
		case syntax.InstEmptyWidth:
			if atEnd && syntax.EmptyOp(in.Arg)&^(syntax.EmptyEndText|syntax.EmptyEndLine) == 0 {
				if closureMatches(prog, closure(prog, []int{int(in.Out)}, false), true) {
					return true
				}
			}
		}
	}
	return false
}

// full reports whether the whole of digits matches.
func (d *digitDFA) full(digits []byte) bool {
	s := int32(0)
	for i := 0; i < len(digits); i++ {
		s = d.next[s][digits[i]-'0']
		if s < 0 {
			return false
		}
	}
	return d.accept[s]
}

// prefix reports whether some prefix of digits (possibly empty) matches.
func (d *digitDFA) prefix(digits []byte) bool {
	s := int32(0)
	if d.seen[s] {
		return true
	}
	for i := 0; i < len(digits); i++ {
		s = d.next[s][digits[i]-'0']
		if s < 0 {
			return false
		}
		if d.seen[s] {
			return true
		}
	}
	return false
}
