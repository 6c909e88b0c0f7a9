// Making the page's elements. Text only ever goes in as textContent.

/** A new `tag` element with a class and text, each when given. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
