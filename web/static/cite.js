// Copy a citation: each "Cite" link opens the citation as text without JavaScript; with it, a click copies.
document.addEventListener("click", async (event) => {
  const link = event.target.closest("a[data-cite]");
  if (!link || !navigator.clipboard) return;
  event.preventDefault();
  try {
    const response = await fetch(link.href);
    if (!response.ok) throw new Error(String(response.status));
    await navigator.clipboard.writeText(await response.text());
    link.textContent = "Citation copied";
  } catch (err) {
    window.location.href = link.href;  // fall back to the plain link
  }
});
