// Package scaling owns transient executors: how many the coordinators ask
// for, and the groups that provide them. Policy.Desired is the rule (a
// pure function of the pending work, the current size and the idle time);
// Scaler applies it periodically to an Autoscaler. AWS is an Autoscaler
// over two EC2 Auto Scaling groups (spot first, on-demand when spot does
// not come); Local starts and stops executor processes on this machine,
// so that the same rule runs in tests and in `cz local`.
package scaling
