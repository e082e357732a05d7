package conformance

import (
	"context"
	"fmt"

	"github.com/jobqueue-go/jobqueue/backend"
)

// The dropper loses the replies of backend.Controller's methods too. It
// forwards them to a backend that implements the interface; on another,
// they fail.

func (d *dropper) controller() (backend.Controller, error) {
	c, ok := d.Backend.(backend.Controller)
	if !ok {
		return nil, fmt.Errorf("conformance: %T is no backend.Controller", d.Backend)
	}
	return c, nil
}

func (d *dropper) Pause(ctx context.Context, queue string) error {
	c, err := d.controller()
	if err != nil {
		return err
	}
	return runErr(d, "Pause", func() error { return c.Pause(ctx, queue) })
}

func (d *dropper) Resume(ctx context.Context, queue string) error {
	c, err := d.controller()
	if err != nil {
		return err
	}
	return runErr(d, "Resume", func() error { return c.Resume(ctx, queue) })
}

func (d *dropper) SetLimits(ctx context.Context, p backend.LimitParams) error {
	c, err := d.controller()
	if err != nil {
		return err
	}
	return runErr(d, "SetLimits", func() error { return c.SetLimits(ctx, p) })
}
