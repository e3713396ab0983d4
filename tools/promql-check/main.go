// promql-check parses PromQL expressions with Prometheus' own parser and reports, for each, the
// parse error or what it references: metric selectors with their matcher labels, grouping and
// vector-matching labels, functions. The chart tests use it to hold dashboards and alert rules
// to the metric names and labels of docs/METRICS.md.
//
// Input (stdin): a JSON array of expression strings. Output (stdout): a JSON array, one object
// per input in the same order. Exit 0 when every expression was read, parsed or not; 2 on bad
// input.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/prometheus/prometheus/promql/parser"
)

type selector struct {
	Name   string   `json:"name"`
	Labels []string `json:"labels"`
}

type report struct {
	Expr      string     `json:"expr"`
	Error     string     `json:"error,omitempty"`
	Selectors []selector `json:"selectors"`
	Grouping  []string   `json:"grouping"`
	Functions []string   `json:"functions"`
}

func inspect(p parser.Parser, expr string) report {
	r := report{Expr: expr, Selectors: []selector{}, Grouping: []string{}, Functions: []string{}}
	ast, err := p.ParseExpr(expr)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	parser.Inspect(ast, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			s := selector{Name: n.Name, Labels: []string{}}
			for _, m := range n.LabelMatchers {
				// The parser turns the metric name into a __name__ matcher.
				if m.Name != "__name__" {
					s.Labels = append(s.Labels, m.Name)
				}
			}
			sort.Strings(s.Labels)
			r.Selectors = append(r.Selectors, s)
		case *parser.AggregateExpr:
			r.Grouping = append(r.Grouping, n.Grouping...)
		case *parser.BinaryExpr:
			if n.VectorMatching != nil {
				r.Grouping = append(r.Grouping, n.VectorMatching.MatchingLabels...)
				r.Grouping = append(r.Grouping, n.VectorMatching.Include...)
			}
		case *parser.Call:
			r.Functions = append(r.Functions, n.Func.Name)
		}
		return nil
	})
	return r
}

func main() {
	var exprs []string
	if err := json.NewDecoder(os.Stdin).Decode(&exprs); err != nil {
		fmt.Fprintln(os.Stderr, "promql-check: stdin is not a JSON array of strings:", err)
		os.Exit(2)
	}
	p := parser.NewParser(parser.Options{})
	out := make([]report, 0, len(exprs))
	for _, e := range exprs {
		out = append(out, inspect(p, e))
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "promql-check:", err)
		os.Exit(2)
	}
}
