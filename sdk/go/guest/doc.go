// Package guest links the contract's exports into a plugin's component
// when built for wasip1; elsewhere it is empty.
package guest
