package scaling

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// ASGAPI is the part of the Auto Scaling API the AWS autoscaler calls
// (*autoscaling.Client). The IAM policies of terraform/modules/iam grant
// exactly these calls.
type ASGAPI interface {
	DescribeAutoScalingGroups(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, opts ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error)
	SetDesiredCapacity(ctx context.Context, in *autoscaling.SetDesiredCapacityInput, opts ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error)
}

// AWS is an Autoscaler over two EC2 Auto Scaling groups of executors:
// Spot (all spot instances, several GPU types) and OnDemand, the fallback.
// Everything goes to the spot group first; when spot instances have not
// come for FallbackAfter, the missing ones are asked of the on-demand
// group. Both go back to 0 together.
type AWS struct {
	api           ASGAPI
	Spot          string
	OnDemand      string // "" for no fallback
	FallbackAfter time.Duration
	// Now is the clock (tests).
	Now func() time.Time

	mu         sync.Mutex
	shortSince time.Time
}

// NewAWS returns the autoscaler of two groups, with the default AWS
// configuration (the instance role, on a coordinator).
func NewAWS(ctx context.Context, region, spot, onDemand string) (*AWS, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	return NewAWSWith(autoscaling.NewFromConfig(cfg), spot, onDemand), nil
}

// NewAWSWith returns the autoscaler over api.
func NewAWSWith(api ASGAPI, spot, onDemand string) *AWS {
	return &AWS{api: api, Spot: spot, OnDemand: onDemand, FallbackAfter: 3 * time.Minute, Now: time.Now}
}

type groupState struct {
	desired, inService, max int
}

func (a *AWS) describe(ctx context.Context) (spot, od groupState, err error) {
	names := []string{a.Spot}
	if a.OnDemand != "" {
		names = append(names, a.OnDemand)
	}
	out, err := a.api.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: names})
	if err != nil {
		return spot, od, fmt.Errorf("describe executor groups %v: %w", names, err)
	}
	found := map[string]groupState{}
	for _, g := range out.AutoScalingGroups {
		s := groupState{desired: int(aws.ToInt32(g.DesiredCapacity)), max: int(aws.ToInt32(g.MaxSize))}
		for _, i := range g.Instances {
			if i.LifecycleState == types.LifecycleStateInService {
				s.inService++
			}
		}
		found[aws.ToString(g.AutoScalingGroupName)] = s
	}
	for _, n := range names {
		if _, ok := found[n]; !ok {
			return spot, od, fmt.Errorf("executor group %s does not exist", n)
		}
	}
	return found[a.Spot], found[a.OnDemand], nil
}

// Capacity implements Autoscaler: both groups together.
func (a *AWS) Capacity(ctx context.Context) (Capacity, error) {
	spot, od, err := a.describe(ctx)
	if err != nil {
		return Capacity{}, err
	}
	return Capacity{Desired: spot.desired + od.desired, Running: spot.inService + od.inService}, nil
}

// SetDesired implements Autoscaler. It splits n between the groups: the
// on-demand group keeps what it has (its instances may be busy) and grows
// by the spot group's shortfall once that has lasted FallbackAfter; the
// spot group is asked for the rest.
func (a *AWS) SetDesired(ctx context.Context, n int) error {
	spot, od, err := a.describe(ctx)
	if err != nil {
		return err
	}
	a.mu.Lock()
	now := a.Now()
	wantOD := 0
	if n > 0 && a.OnDemand != "" {
		wantOD = min(od.desired, n)
		if spot.inService < spot.desired {
			if a.shortSince.IsZero() {
				a.shortSince = now
			}
			if now.Sub(a.shortSince) >= a.FallbackAfter {
				wantOD = max(wantOD, n-spot.inService)
			}
		} else {
			a.shortSince = time.Time{}
		}
		wantOD = min(wantOD, od.max)
	}
	if n == 0 {
		a.shortSince = time.Time{}
	}
	a.mu.Unlock()
	wantSpot := min(n-wantOD, spot.max)
	if wantOD != od.desired {
		if err := a.set(ctx, a.OnDemand, wantOD); err != nil {
			return err
		}
	}
	if wantSpot != spot.desired {
		return a.set(ctx, a.Spot, wantSpot)
	}
	return nil
}

func (a *AWS) set(ctx context.Context, group string, n int) error {
	_, err := a.api.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String(group),
		DesiredCapacity:      aws.Int32(int32(n)),
		// Scaling in may not wait for a cooldown: idle is idle.
		HonorCooldown: aws.Bool(false),
	})
	if err != nil {
		return fmt.Errorf("set %s to %d executors: %w", group, n, err)
	}
	return nil
}
