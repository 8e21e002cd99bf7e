//! smsc-sim library.
