//! Wire types shared by the phone and the server (COCOA-compatible JSON). Empty until the key server (issue order 2).
