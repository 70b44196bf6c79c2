export type Align = 'left' | 'right';

/** A GitHub-flavoured Markdown table; numbers are best right-aligned. */
export function markdownTable(headers: string[], rows: string[][], align: Align[] = []): string {
  const rule = headers.map((_, i) => (align[i] === 'right' ? '---:' : '---'));
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(rule), ...rows.map(line)].join('\n');
}

function markers(name: string): { start: string; end: string } {
  return { start: `<!-- bench:${name}:start -->`, end: `<!-- bench:${name}:end -->` };
}

/**
 * Replaces one benchmark's section of a document, between its start and end markers, leaving every
 * other section alone; a section seen for the first time is appended.
 */
export function replaceSection(document: string, name: string, content: string): string {
  const { start, end } = markers(name);
  const block = `${start}\n${content.trim()}\n${end}`;
  const from = document.indexOf(start);
  const to = document.indexOf(end, from);
  if (from !== -1 && to > from) {
    return document.slice(0, from) + block + document.slice(to + end.length);
  }
  return `${document.trimEnd()}\n\n${block}\n`;
}

export function formatNumber(value: number, digits = 0): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
