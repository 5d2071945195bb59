/** A failure the model is told about: its message becomes the tool call's `error` result. */
export class ToolError extends Error {}
