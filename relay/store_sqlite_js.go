package relay

import "errors"

// openDefaultStore has no default under js/wasm: the SQLite driver needs a
// C library port that js/wasm lacks, so the host passes Options.Store.
func openDefaultStore(Options) (Store, error) {
	return nil, errors.New("relay: no default store under js/wasm; set Options.Store")
}
