package scaling

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// Open returns the Autoscaler a flag names (the coordinator's --autoscale):
//
//	aws:SPOT_GROUP[,ON_DEMAND_GROUP]   EC2 Auto Scaling groups (region from CZ_S3_REGION or AWS_REGION)
//	local:COMMAND [ARG...]             processes on this machine
func Open(ctx context.Context, spec string) (Autoscaler, error) {
	kind, rest, _ := strings.Cut(spec, ":")
	switch kind {
	case "aws":
		groups := strings.Split(rest, ",")
		if rest == "" || len(groups) > 2 {
			return nil, fmt.Errorf("autoscaler %q: expected aws:SPOT_GROUP[,ON_DEMAND_GROUP]", spec)
		}
		region := os.Getenv("CZ_S3_REGION")
		if region == "" {
			region = os.Getenv("AWS_REGION")
		}
		onDemand := ""
		if len(groups) == 2 {
			onDemand = groups[1]
		}
		return NewAWS(ctx, region, groups[0], onDemand)
	case "local":
		cmd := strings.Fields(rest)
		if len(cmd) == 0 {
			return nil, fmt.Errorf("autoscaler %q: expected local:COMMAND [ARG...]", spec)
		}
		return &Local{Command: cmd}, nil
	}
	return nil, fmt.Errorf("autoscaler %q: expected aws:GROUP[,GROUP] or local:COMMAND", spec)
}
