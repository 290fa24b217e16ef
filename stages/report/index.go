package report

import (
	"fmt"
	"html"
	"strings"
)

// IndexFile and HTMLFile are the report's indexes of its figures.
const (
	IndexFile = "report.md"
	HTMLFile  = "report.html"
)

func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// markdown is report.md: each figure, its caption and the numbers it plots.
func markdown(title, intro string, secs []section) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n%s\n", title, intro)
	for _, s := range secs {
		fmt.Fprintf(&b, "\n## %s\n\n", s.heading)
		if s.file != "" {
			fmt.Fprintf(&b, "![%s](%s)\n\n", s.heading, s.file)
		}
		fmt.Fprintf(&b, "%s\n", s.caption)
		if len(s.notes) > 0 {
			b.WriteString("\n")
			for _, n := range s.notes {
				fmt.Fprintf(&b, "- %s\n", mdCell(n))
			}
		}
		for _, t := range s.tables {
			b.WriteString("\n")
			if t.title != "" {
				fmt.Fprintf(&b, "**%s**\n\n", mdCell(t.title))
			}
			b.WriteString("|")
			for _, h := range t.header {
				fmt.Fprintf(&b, " %s |", mdCell(h))
			}
			b.WriteString("\n|")
			for i := range t.header {
				if t.numeric(i) {
					b.WriteString(" ---: |")
				} else {
					b.WriteString(" --- |")
				}
			}
			b.WriteString("\n")
			for _, r := range t.rows {
				b.WriteString("|")
				for _, c := range r {
					fmt.Fprintf(&b, " %s |", mdCell(c))
				}
				b.WriteString("\n")
			}
		}
	}
	return b.String()
}

// htmlPage is report.html: the same as report.md, for a browser, with
// each figure's src from srcs (its data: URI) where srcs has it.
func htmlPage(title, intro string, secs []section, srcs map[string]string) string {
	e := html.EscapeString
	var b strings.Builder
	fmt.Fprintf(&b, `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>%s</title>
<style>
body { font-family: sans-serif; max-width: 70em; margin: 2em auto; padding: 0 1em; color: #222; }
img { max-width: 100%%; height: auto; border: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; }
td.n { text-align: right; }
th { background: #f4f4f4; }
</style>
</head>
<body>
<h1>%s</h1>
<p>%s</p>
`, e(title), e(title), e(intro))
	for _, s := range secs {
		if s.file != "" {
			src := s.file
			if uri, ok := srcs[s.file]; ok {
				src = uri
			}
			fmt.Fprintf(&b, "<h2>%s</h2>\n<figure>\n<img src=\"%s\" alt=\"%s\">\n<figcaption>%s</figcaption>\n</figure>\n",
				e(s.heading), e(src), e(s.heading), e(s.caption))
		} else {
			fmt.Fprintf(&b, "<h2>%s</h2>\n<p>%s</p>\n", e(s.heading), e(s.caption))
		}
		if len(s.notes) > 0 {
			b.WriteString("<ul>\n")
			for _, n := range s.notes {
				fmt.Fprintf(&b, "<li>%s</li>\n", e(n))
			}
			b.WriteString("</ul>\n")
		}
		for _, t := range s.tables {
			if t.title != "" {
				fmt.Fprintf(&b, "<h3>%s</h3>\n", e(t.title))
			}
			b.WriteString("<table>\n<tr>")
			for _, h := range t.header {
				fmt.Fprintf(&b, "<th>%s</th>", e(h))
			}
			b.WriteString("</tr>\n")
			for _, r := range t.rows {
				b.WriteString("<tr>")
				for i, c := range r {
					if t.numeric(i) {
						fmt.Fprintf(&b, "<td class=\"n\">%s</td>", e(c))
					} else {
						fmt.Fprintf(&b, "<td>%s</td>", e(c))
					}
				}
				b.WriteString("</tr>\n")
			}
			b.WriteString("</table>\n")
		}
	}
	b.WriteString("</body>\n</html>\n")
	return b.String()
}

// numeric reports whether column i holds numbers (right-aligned): every
// cell that is not empty, "n/a" or a dash starts with a digit or a sign.
func (t mdTable) numeric(i int) bool {
	num := false
	for _, r := range t.rows {
		if i >= len(r) {
			continue
		}
		c := r[i]
		switch {
		case c == "" || c == "n/a" || c == "–" || c == "?":
		case (c[0] >= '0' && c[0] <= '9') || ((c[0] == '-' || c[0] == '+') && len(c) > 1 && c[1] >= '0' && c[1] <= '9'):
			num = true
		default:
			return false
		}
	}
	return num
}
