package reconcile

import "sync"

// optedIn remembers the namespaces that were opted in when last
// reconciled, so that one opting out is read once more to undo or report
// what gatemesh did there, while namespaces that never opted in are never
// read. The zero value is ready to use.
type optedIn struct {
	mu    sync.Mutex
	names map[string]bool
}

// set records whether name is opted in now, and returns whether it was.
func (o *optedIn) set(name string, now bool) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.names == nil {
		o.names = map[string]bool{}
	}
	was := o.names[name]
	if now {
		o.names[name] = true
	} else {
		delete(o.names, name)
	}
	return was
}
