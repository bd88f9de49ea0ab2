// Package redact is the one chokepoint that removes credentials from text users read:
// condition messages, events and log lines. It strips URL userinfo and query strings, and
// blanks out known secret values.
package redact
