// Installs the missing Web APIs (polyfills.ts) before anything else of the
// bundle runs: @parley-im/sdk creates its TextEncoder and TextDecoder when
// its modules load. Only what the host lacks is defined.
import { installGlobals } from './polyfills.js';

installGlobals();
