// Package labpage is the lab's status page: what a browser opens first through the proxy. It
// shows the lab's nodes, every HelmRelease with its Ready state and message, and the last
// events, read from the API server on every request; the page reloads itself every few
// seconds, so it follows the lab live. The lab daemon serves it on the lab's network.
package labpage

import (
	"cmp"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Refresh is how often the page reloads itself.
const Refresh = 5 * time.Second

// lastEvents is how many events the page shows, newest first.
const lastEvents = 30

// Page is the data of one rendering.
type Page struct {
	Lab      string
	Now      string
	Refresh  int
	Nodes    []Row
	Releases []Row
	Events   []Row
	// Errors are what could not be read (an API not installed yet, say).
	Errors []string
}

// Row is one line of a table: a name, a state and a message; Good colours the state.
type Row struct {
	Name, State, Message, Age string
	Good                      bool
}

// Handler serves the page of lab, reading through c.
func Handler(lab string, c client.Client) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		p := Read(ctx, lab, c)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := page.Execute(w, p); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
}

// Read gathers the page's data.
func Read(ctx context.Context, lab string, c client.Client) Page {
	now := time.Now()
	p := Page{Lab: lab, Now: now.UTC().Format(time.RFC3339), Refresh: int(Refresh.Seconds())}
	age := func(t metav1.Time) string {
		if t.IsZero() {
			return ""
		}
		return now.Sub(t.Time).Round(time.Second).String()
	}
	nodes := &corev1.NodeList{}
	if err := c.List(ctx, nodes); err != nil {
		p.Errors = append(p.Errors, fmt.Sprintf("nodes: %v", err))
	}
	for _, n := range nodes.Items {
		row := Row{Name: n.Name, State: "NotReady", Age: age(n.CreationTimestamp)}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				row.Message = cond.Message
				if cond.Status == corev1.ConditionTrue {
					row.State, row.Good = "Ready", true
				}
			}
		}
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				row.Message = a.Address + " — " + row.Message
			}
		}
		p.Nodes = append(p.Nodes, row)
	}
	hrs := &helmv2.HelmReleaseList{}
	if err := c.List(ctx, hrs); err != nil {
		p.Errors = append(p.Errors, fmt.Sprintf("HelmReleases: %v", err))
	}
	for _, hr := range hrs.Items {
		row := Row{Name: hr.Namespace + "/" + hr.Name, State: "Unknown", Age: age(hr.CreationTimestamp)}
		if ready := apimeta.FindStatusCondition(hr.Status.Conditions, "Ready"); ready != nil {
			row.State, row.Message, row.Good = string(ready.Status)+" ("+ready.Reason+")", ready.Message, ready.Status == metav1.ConditionTrue
		}
		p.Releases = append(p.Releases, row)
	}
	slices.SortFunc(p.Releases, func(a, b Row) int {
		if a.Good != b.Good { // the ones not Ready first
			if a.Good {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.Name, b.Name)
	})
	events := &corev1.EventList{}
	if err := c.List(ctx, events); err != nil {
		p.Errors = append(p.Errors, fmt.Sprintf("events: %v", err))
	}
	last := func(e corev1.Event) time.Time {
		return slices.MaxFunc([]time.Time{e.LastTimestamp.Time, e.EventTime.Time, e.CreationTimestamp.Time}, func(a, b time.Time) int { return a.Compare(b) })
	}
	slices.SortFunc(events.Items, func(a, b corev1.Event) int { return last(b).Compare(last(a)) })
	for _, e := range events.Items[:min(len(events.Items), lastEvents)] {
		p.Events = append(p.Events, Row{
			Name:  fmt.Sprintf("%s %s/%s", e.InvolvedObject.Kind, e.InvolvedObject.Namespace, e.InvolvedObject.Name),
			State: e.Reason, Message: e.Message, Good: e.Type != corev1.EventTypeWarning,
			Age: now.Sub(last(e)).Round(time.Second).String(),
		})
	}
	return p
}

var page = template.Must(template.New("lab").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="{{.Refresh}}">
<title>cozylab {{.Lab}}</title>
<style>
body{font-family:sans-serif;margin:1.5em} table{border-collapse:collapse;margin-bottom:1.5em}
td,th{border-bottom:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
.good{color:#17692e}.bad{color:#a3120f;font-weight:bold} .msg{color:#555;max-width:60em}
</style></head><body>
<h1>Lab {{.Lab}}</h1>
<p>{{.Now}} — reloads every {{.Refresh}} s</p>
{{range .Errors}}<p class="bad">{{.}}</p>{{end}}
<h2>Nodes ({{len .Nodes}})</h2>
<table id="nodes"><tr><th>node</th><th>state</th><th>address and condition</th><th>age</th></tr>
{{range .Nodes}}<tr><td>{{.Name}}</td><td class="{{if .Good}}good{{else}}bad{{end}}">{{.State}}</td><td class="msg">{{.Message}}</td><td>{{.Age}}</td></tr>
{{end}}</table>
<h2>HelmReleases ({{len .Releases}})</h2>
<table id="releases"><tr><th>release</th><th>Ready</th><th>message</th><th>age</th></tr>
{{range .Releases}}<tr><td>{{.Name}}</td><td class="{{if .Good}}good{{else}}bad{{end}}">{{.State}}</td><td class="msg">{{.Message}}</td><td>{{.Age}}</td></tr>
{{end}}</table>
<h2>Last events</h2>
<table id="events"><tr><th>object</th><th>reason</th><th>message</th><th>ago</th></tr>
{{range .Events}}<tr><td>{{.Name}}</td><td class="{{if .Good}}good{{else}}bad{{end}}">{{.State}}</td><td class="msg">{{.Message}}</td><td>{{.Age}}</td></tr>
{{end}}</table>
</body></html>
`))
