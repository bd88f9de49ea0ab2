// Package conditions reads and writes metav1.Conditions on Driftless objects the way kstatus and
// the flux CLI expect: Ready has normal polarity, Reconciling and Stalled are present only while
// True, every condition carries the object's generation, and messages are redacted.
package conditions
