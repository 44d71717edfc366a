package twin

import (
	"context"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// maintenanceMethods are the calls a node without a config answers, as Talos's maintenance
// service does.
var maintenanceMethods = map[string]bool{
	machine.MachineService_Version_FullMethodName:            true,
	machine.MachineService_ApplyConfiguration_FullMethodName: true,
}

// gate decides whether a call may run. TLS already refused unknown client certificates on new
// connections; the gate covers the rest: calls on a connection opened before the config was
// applied (which a real node would have dropped by rebooting) and calls maintenance mode lacks.
func (t *Twin) gate(ctx context.Context, method string) error {
	t.mu.Lock()
	configured := t.config != nil
	t.mu.Unlock()

	if !configured {
		if !maintenanceMethods[method] {
			return status.Error(codes.Unimplemented, "API is not implemented in maintenance mode")
		}

		return nil
	}

	if !clientVerified(ctx) {
		return status.Error(codes.Unavailable,
			"the node left maintenance mode: reconnect with a client certificate from the cluster's talosconfig")
	}

	return nil
}

// clientVerified reports whether the connection presented a client certificate that verified
// against the OS CA.
func clientVerified(ctx context.Context) bool {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return false
	}

	info, ok := p.AuthInfo.(credentials.TLSInfo)

	return ok && len(info.State.VerifiedChains) > 0
}

func (t *Twin) unaryGate(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	if err := t.gate(ctx, info.FullMethod); err != nil {
		return nil, err
	}

	return next(ctx, req)
}

func (t *Twin) streamGate(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	if err := t.gate(ss.Context(), info.FullMethod); err != nil {
		return err
	}

	return next(srv, ss)
}
