package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/store"
)

// Lock is a run lock held in the object store (the seed's "temp lock file
// strategy" for the ground-truth folder): created with If-None-Match: *,
// so exactly one run holds it, and carrying its owner and an expiry so
// that a crashed run's lock can be broken once it is stale.
type Lock struct {
	Owner   string    `json:"owner"` // the job id
	Expires time.Time `json:"expires"`
}

// ErrLocked says another run holds the lock.
var ErrLocked = errors.New("locked by another run")

// acquireLock takes the named lock for owner. It is re-entrant for the same
// owner (a retried attempt of the same job), breaks a lock whose holder
// let it expire, and otherwise returns ErrLocked naming the holder.
func acquireLock(ctx context.Context, b store.Bucket, name, owner string, ttl time.Duration, now time.Time) error {
	key := layout.Lock(name)
	body, _ := json.Marshal(Lock{Owner: owner, Expires: now.Add(ttl)})
	for range 3 {
		err := b.PutIfAbsent(ctx, key, bytes.NewReader(body))
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrExists) {
			return err
		}
		obj, err := b.Stat(ctx, key)
		if errors.Is(err, store.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return err
		}
		data, err := store.ReadAll(ctx, b, key)
		if errors.Is(err, store.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		var held Lock
		if json.Unmarshal(data, &held) == nil && held.Owner == owner {
			// Ours already (a later stage, or a retried attempt): renew it.
			err := b.PutIfMatch(ctx, key, obj.ETag, bytes.NewReader(body))
			if errors.Is(err, store.ErrPrecondition) {
				continue
			}
			return err
		}
		if json.Unmarshal(data, &held) == nil && now.Before(held.Expires) {
			return fmt.Errorf("%s: %w: job %s holds it until %s", store.Join(b.URL(), key), ErrLocked, held.Owner, held.Expires.Format(time.RFC3339))
		}
		// Stale (or unreadable): take it over only if nobody else did.
		if err := b.PutIfMatch(ctx, key, obj.ETag, bytes.NewReader(body)); err == nil {
			return nil
		} else if !errors.Is(err, store.ErrPrecondition) {
			return err
		}
	}
	return fmt.Errorf("%s: %w: contended", store.Join(b.URL(), key), ErrLocked)
}

// releaseLock drops the lock if owner still holds it.
func releaseLock(ctx context.Context, b store.Bucket, name, owner string) error {
	key := layout.Lock(name)
	data, err := store.ReadAll(ctx, b, key)
	if errors.Is(err, store.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var held Lock
	if json.Unmarshal(data, &held) == nil && held.Owner != owner {
		return nil
	}
	return b.Delete(ctx, key)
}
