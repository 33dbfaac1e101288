// Minimal types of what the example imports, so that CI type-checks it without installing React
// Native (the example is checked, not run). They follow the packages' published signatures.
declare module 'react-native-quick-crypto' {
  interface Cipher {
    setAAD(aad: Uint8Array): this;
    update(data: Uint8Array): Uint8Array;
    final(): Uint8Array;
    getAuthTag(): Uint8Array;
  }
  interface Decipher {
    setAAD(aad: Uint8Array): this;
    setAuthTag(tag: Uint8Array): this;
    update(data: Uint8Array): Uint8Array;
    final(): Uint8Array;
  }
  interface Argon2Params {
    message: Uint8Array | string;
    nonce: Uint8Array | string;
    parallelism: number;
    tagLength: number;
    memory: number;
    passes: number;
  }
  const QuickCrypto: {
    createCipheriv(algorithm: string, key: Uint8Array, iv: Uint8Array): Cipher;
    createDecipheriv(algorithm: string, key: Uint8Array, iv: Uint8Array): Decipher;
    getRandomValues<T extends ArrayBufferView>(data: T): T;
    argon2(
      algorithm: string,
      params: Argon2Params,
      callback: (err: Error | null, result: Uint8Array) => void,
    ): void;
  };
  export default QuickCrypto;
}

declare module 'react-native' {
  import type { ComponentType, ReactNode } from 'react';
  export const View: ComponentType<{ children?: ReactNode }>;
  export const Text: ComponentType<{ children?: ReactNode; selectable?: boolean }>;
  export const Button: ComponentType<{ title: string; onPress: () => void }>;
  export const AppRegistry: { registerComponent(name: string, app: () => ComponentType): void };
}

declare module 'react' {
  export type ReactNode = string | number | boolean | null | undefined | JSX.Element | ReactNode[];
  export type ComponentType<P = object> = (props: P) => JSX.Element | null;
  export function useState<T>(initial: T): [T, (value: T) => void];
}

declare namespace JSX {
  interface Element {
    readonly type: unknown;
  }
  type IntrinsicElements = Record<never, never>;
  interface ElementChildrenAttribute {
    children: object;
  }
}

declare module 'react/jsx-runtime' {
  export function jsx(type: unknown, props: unknown, key?: string): JSX.Element;
  export function jsxs(type: unknown, props: unknown, key?: string): JSX.Element;
  export const Fragment: unknown;
}
