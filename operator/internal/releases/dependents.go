package releases

import "sync"

// dependents is the reverse of "package P's active variant depends on D", learnt from each
// reconcile, so an event on D enqueues exactly the Packages waiting on it instead of listing
// every Package. At start-up every Package is reconciled once, which fills it.
type dependents struct {
	mu    sync.Mutex
	deps  map[string][]string        // package -> its dependencies
	users map[string]map[string]bool // dependency -> packages depending on it
}

func newDependents() *dependents {
	return &dependents{deps: map[string][]string{}, users: map[string]map[string]bool{}}
}

// set records pkg's current dependencies (nil forgets pkg).
func (d *dependents) set(pkg string, deps []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, old := range d.deps[pkg] {
		delete(d.users[old], pkg)
		if len(d.users[old]) == 0 {
			delete(d.users, old)
		}
	}
	if len(deps) == 0 {
		delete(d.deps, pkg)
		return
	}
	d.deps[pkg] = append([]string(nil), deps...)
	for _, dep := range deps {
		if d.users[dep] == nil {
			d.users[dep] = map[string]bool{}
		}
		d.users[dep][pkg] = true
	}
}

// of returns the packages depending on dep.
func (d *dependents) of(dep string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.users[dep]))
	for p := range d.users[dep] {
		out = append(out, p)
	}
	return out
}
