const ENTITIES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/**
 * Text for HTML and SVG (XML) element content and attribute values, quoted
 * with either quote. The one escape of the project: node ids, signals,
 * versions and titles come from users.
 */
export function escapeHtml(x: unknown): string {
  return String(x).replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}
