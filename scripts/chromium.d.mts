/** Chromium's path: $CHROMIUM_PATH, else Debian's /usr/bin/chromium. */
export declare const CHROMIUM: string;
/** The flags every headless run here starts Chromium with. */
export declare const CHROMIUM_ARGS: string[];
