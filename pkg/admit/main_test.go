package admit

import (
	"io"
	"os"
	"testing"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// TestMain installs the logger serve installs (zap at info, here writing
// nowhere), so that tests and benchmarks log as production does rather than
// through controller-runtime's placeholder.
func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	os.Exit(m.Run())
}
