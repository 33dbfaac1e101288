/**
 * hash-wasm's Argon2id alone. A module of its own so that kdf.ts can load it on first use while
 * bundlers still keep only this one function of hash-wasm (a dynamic import of the package itself
 * would pull in every hash it has). Internal.
 */
export { argon2id } from 'hash-wasm';
