/** The build's version, shown by `--version`, the API and the agent's hello. */
export const VERSION = '0.1.0';
